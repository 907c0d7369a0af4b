"""Associates, pickup orders and rules of a store."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlmodel import col, select

from ..deps import Access, RowId, SessionDep, StateDep
from ..models import (
    Associate,
    AssociateCreate,
    AssociatePublic,
    AssociateUpdate,
    Customer,
    PickupOrder,
    PickupOrderCreate,
    PickupOrderPublic,
    Rule,
    RuleCreate,
    RuleDecision,
    RuleDecisionPublic,
    RulePublic,
)
from ..security import Principal
from .stores import get_store

router = APIRouter(tags=["staff"])
OPS = Depends(Access("ops"))


@router.post("/stores/{store_id}/associates", response_model=AssociatePublic, status_code=201,
             dependencies=[OPS])  # fmt: skip
def create_associate(session: SessionDep, store_id: str, body: AssociateCreate) -> Associate:
    """Add an associate."""
    get_store(session, store_id)
    associate = Associate.model_validate(body, update={"store_id": store_id})
    session.add(associate)
    session.commit()
    session.refresh(associate)
    return associate


@router.get("/stores/{store_id}/associates", response_model=list[AssociatePublic],
            dependencies=[Depends(Access("ops", "associate"))])  # fmt: skip
def list_associates(session: SessionDep, store_id: str) -> list[Associate]:
    """The store's associates and who is on shift."""
    get_store(session, store_id)
    return list(session.exec(select(Associate).where(Associate.store_id == store_id)).all())


@router.patch("/stores/{store_id}/associates/{associate_id}", response_model=AssociatePublic)
def update_associate(
    session: SessionDep,
    store_id: str,
    associate_id: RowId,
    body: AssociateUpdate,
    caller: Annotated[Principal, Depends(Access("ops", "associate"))],
) -> Associate:
    """Change zones or availability (an associate may change only their own)."""
    associate = session.get(Associate, associate_id)
    if associate is None or associate.store_id != store_id:
        raise HTTPException(404, f"no associate {associate_id}")
    if caller.role == "associate" and caller.associate != associate_id:
        raise HTTPException(403, "associates may change only their own availability")
    associate.sqlmodel_update(body.model_dump(exclude_unset=True, exclude_none=True))
    session.add(associate)
    session.commit()
    session.refresh(associate)
    return associate


@router.post("/stores/{store_id}/orders", response_model=PickupOrderPublic, status_code=201,
             dependencies=[Depends(Access("ops", "service"))])  # fmt: skip
def create_order(
    session: SessionDep, state: StateDep, store_id: str, body: PickupOrderCreate
) -> PickupOrder:
    """A pickup order waiting in the store for a customer."""
    store = get_store(session, store_id)
    customer = session.get(Customer, body.customer_id)
    if customer is None or customer.tenant != store.tenant:
        raise HTTPException(404, f"no customer {body.customer_id}")
    order = PickupOrder.model_validate(body, update={"store_id": store_id,
                                                     "created_at": state.clock()})  # fmt: skip
    session.add(order)
    session.commit()
    session.refresh(order)
    return order


@router.get("/stores/{store_id}/orders", response_model=list[PickupOrderPublic],
            dependencies=[Depends(Access("ops", "associate", "service"))])  # fmt: skip
def list_orders(session: SessionDep, store_id: str) -> list[PickupOrder]:
    """The store's pickup orders."""
    get_store(session, store_id)
    return list(session.exec(select(PickupOrder).where(PickupOrder.store_id == store_id)).all())


@router.post("/stores/{store_id}/orders/{order_id}/collect", response_model=PickupOrderPublic,
             dependencies=[Depends(Access("ops", "associate"))])  # fmt: skip
def collect_order(
    session: SessionDep, state: StateDep, store_id: str, order_id: RowId
) -> PickupOrder:
    """The customer collected the order."""
    order = session.get(PickupOrder, order_id)
    if order is None or order.store_id != store_id:
        raise HTTPException(404, f"no order {order_id}")
    order.status = "collected"
    order.collected_at = state.clock()
    session.add(order)
    session.commit()
    session.refresh(order)
    return order


@router.post("/stores/{store_id}/rules", response_model=RulePublic, status_code=201,
             dependencies=[OPS])  # fmt: skip
def create_rule(session: SessionDep, store_id: str, body: RuleCreate) -> Rule:
    """Add a rule."""
    get_store(session, store_id)
    rule = Rule.model_validate(body, update={"store_id": store_id})
    session.add(rule)
    session.commit()
    session.refresh(rule)
    return rule


@router.get("/stores/{store_id}/rules", response_model=list[RulePublic], dependencies=[OPS])
def list_rules(session: SessionDep, store_id: str) -> list[Rule]:
    """The store's rules, in evaluation order."""
    get_store(session, store_id)
    return list(
        session.exec(select(Rule).where(Rule.store_id == store_id).order_by(col(Rule.id))).all()
    )


@router.put("/stores/{store_id}/rules/{rule_id}", response_model=RulePublic, dependencies=[OPS])
def replace_rule(session: SessionDep, store_id: str, rule_id: RowId, body: RuleCreate) -> Rule:
    """Replace a rule's definition."""
    rule = session.get(Rule, rule_id)
    if rule is None or rule.store_id != store_id:
        raise HTTPException(404, f"no rule {rule_id}")
    rule.sqlmodel_update(body.model_dump())
    session.add(rule)
    session.commit()
    session.refresh(rule)
    return rule


@router.get("/stores/{store_id}/rule-decisions", response_model=list[RuleDecisionPublic],
            dependencies=[OPS])  # fmt: skip
def list_decisions(
    session: SessionDep,
    store_id: str,
    customer_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: int = 200,
) -> list[RuleDecision]:
    """Recent rule evaluations: fired, or the reason each rule did not."""
    get_store(session, store_id)
    query = (
        select(RuleDecision)
        .join(Rule, col(Rule.id) == col(RuleDecision.rule_id))
        .where(Rule.store_id == store_id)
    )
    if customer_id is not None:
        query = query.where(RuleDecision.customer_id == customer_id)
    query = query.order_by(col(RuleDecision.id).desc()).limit(max(1, min(limit, 1000)))
    return list(session.exec(query).all())
