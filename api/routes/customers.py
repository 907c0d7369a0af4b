"""Customers (ops), enrollment and the app's own data (``/me``), consent and erasure."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from sqlmodel import Session, col, select

from ..crud import customers as crud
from ..crud.alerts import feed_message
from ..deps import (
    RATE_LIMITED,
    Access,
    AppState,
    EnrollLimit,
    Public,
    RowId,
    SessionDep,
    StateDep,
)
from ..models import (
    Alert,
    Associate,
    ConsentChange,
    ConsentGrantResult,
    ConsentPublic,
    Coupon,
    CouponPublic,
    Customer,
    CustomerCreate,
    CustomerPublic,
    CustomerUpdate,
    Enrollment,
    EnrollmentResult,
)
from ..security import Principal, issue_token

router = APIRouter(tags=["customers"])
OpsDep = Annotated[Principal, Depends(Access("ops"))]
AppDep = Annotated[Principal, Depends(Access("app"))]


def _customer(session: Session, customer_id: int, tenant: str) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None or customer.tenant != tenant:
        raise HTTPException(404, f"no customer {customer_id}")
    return customer


def _check_associate(session: Session, associate_id: int | None) -> None:
    if associate_id is not None and session.get(Associate, associate_id) is None:
        raise HTTPException(
            422,
            [{"loc": ["body", "primary_associate_id"], "msg": f"no associate {associate_id}",
              "type": "value_error"}],
        )  # fmt: skip


def _me(session: Session, caller: Principal) -> Customer:
    assert caller.customer is not None
    customer = session.get(Customer, caller.customer)
    if customer is None or customer.erased_at is not None:
        raise HTTPException(404, "no such customer (erased?)")
    return customer


@router.post("/customers", response_model=CustomerPublic, status_code=201)
def create_customer(
    body: CustomerCreate, session: SessionDep, state: StateDep, caller: OpsDep
) -> Customer:
    """Create a customer profile (CRM side); the app enrolls it for consent and a key."""
    if body.tenant != caller.tenant:
        raise HTTPException(403, "customer must be in your tenant")
    _check_associate(session, body.primary_associate_id)
    customer = Customer.model_validate(body, update={"created_at": state.clock()})
    session.add(customer)
    session.flush()
    crud.assign_subject(session, customer, state.settings.subject_secret)
    session.commit()
    session.refresh(customer)
    return customer


@router.get("/customers", response_model=list[CustomerPublic])
def list_customers(
    session: SessionDep, caller: OpsDep, offset: int = 0, limit: int = 100
) -> list[Customer]:
    """Customers of the caller's tenant."""
    limit = max(1, min(limit, 500))
    query = (
        select(Customer)
        .where(Customer.tenant == caller.tenant)
        .order_by(col(Customer.id))
        .offset(max(0, min(offset, 10**9)))
        .limit(limit)
    )
    return list(session.exec(query).all())


@router.get("/customers/{customer_id}", response_model=CustomerPublic)
def read_customer(session: SessionDep, customer_id: RowId, caller: OpsDep) -> Customer:
    """One customer."""
    return _customer(session, customer_id, caller.tenant)


@router.patch("/customers/{customer_id}", response_model=CustomerPublic)
def update_customer(
    session: SessionDep, customer_id: RowId, body: CustomerUpdate, caller: OpsDep
) -> Customer:
    """Change profile fields (tier, tags, preferences, notes, purchases, primary associate)."""
    customer = _customer(session, customer_id, caller.tenant)
    if customer.erased_at is not None:
        raise HTTPException(409, "customer was erased")
    _check_associate(session, body.primary_associate_id)
    customer.sqlmodel_update(body.model_dump(exclude_unset=True))
    session.add(customer)
    session.commit()
    session.refresh(customer)
    return customer


@router.delete("/customers/{customer_id}", response_model=CustomerPublic)
def erase_customer(
    session: SessionDep, state: StateDep, customer_id: RowId, caller: OpsDep
) -> Customer:
    """Erase the customer's personal data (right to erasure)."""
    customer = _customer(session, customer_id, caller.tenant)
    cancelled = crud.erase(session, customer, state.clock())
    session.commit()
    _announce(state, session, cancelled)
    session.refresh(customer)
    return customer


@router.get("/customers/{customer_id}/consent", response_model=list[ConsentPublic])
def customer_consent(
    session: SessionDep, customer_id: RowId, caller: OpsDep
) -> list[ConsentPublic]:
    """The customer's consent per purpose."""
    _customer(session, customer_id, caller.tenant)
    return crud.consent_public(crud.consents_of(session, customer_id))


@router.post("/enroll", response_model=EnrollmentResult, status_code=201,
             responses=RATE_LIMITED,
             dependencies=[Depends(EnrollLimit()), Depends(Public())])  # fmt: skip
def enroll(body: Enrollment, session: SessionDep, state: StateDep) -> EnrollmentResult:
    """The app enrolls a customer with chosen purposes; the token key is returned once.
    Rate-limited per client address (``limits.enroll``; every call counts, valid or not)."""
    now = state.clock()
    customer = Customer(name=body.name, tenant=body.tenant, created_at=now)
    session.add(customer)
    session.flush()
    assert customer.id is not None
    crud.assign_subject(session, customer, state.settings.subject_secret)
    crud.grant(session, customer.id, body.purposes, body.notice_version, now)
    key = crud.ensure_key(session, state.vault, customer.id, now)
    assert key is not None
    session.commit()
    token = issue_token(
        state.settings.auth_secret,
        Principal(role="app", tenant=body.tenant, customer=customer.id, exp=now + 365 * 86400),
    )
    return EnrollmentResult(
        customer_id=customer.id, token_key=key.hex(), access_token=token,
        consents=crud.consent_public(crud.consents_of(session, customer.id)),
    )  # fmt: skip


@router.get("/me", response_model=CustomerPublic)
def read_me(session: SessionDep, caller: AppDep) -> Customer:
    """The customer's own profile."""
    return _me(session, caller)


@router.get("/me/consent", response_model=list[ConsentPublic])
def my_consent(session: SessionDep, caller: AppDep) -> list[ConsentPublic]:
    """The customer's own consent per purpose."""
    customer = _me(session, caller)
    assert customer.id is not None
    return crud.consent_public(crud.consents_of(session, customer.id))


@router.post("/me/consent", response_model=ConsentGrantResult)
def grant_consent(
    body: ConsentChange, session: SessionDep, state: StateDep, caller: AppDep
) -> ConsentGrantResult:
    """Grant purposes; a customer who had withdrawn everything gets a new key (shown once)."""
    customer = _me(session, caller)
    assert customer.id is not None
    now = state.clock()
    crud.grant(session, customer.id, body.purposes, body.notice_version, now)
    key = crud.ensure_key(session, state.vault, customer.id, now)
    session.commit()
    return ConsentGrantResult(
        token_key=key.hex() if key is not None else None,
        consents=crud.consent_public(crud.consents_of(session, customer.id)),
    )


@router.post("/me/consent/withdraw", response_model=list[ConsentPublic])
def withdraw_consent(
    body: ConsentChange, session: SessionDep, state: StateDep, caller: AppDep
) -> list[ConsentPublic]:
    """Withdraw purposes. Withdrawing the last one deletes the key: every token of the phone
    becomes unresolvable; live alerts stop at once."""
    customer = _me(session, caller)
    assert customer.id is not None
    cancelled = crud.withdraw(session, customer.id, body.purposes, state.clock())
    session.commit()
    _announce(state, session, cancelled)
    return crud.consent_public(crud.consents_of(session, customer.id))


@router.delete("/me", response_model=CustomerPublic)
def erase_me(session: SessionDep, state: StateDep, caller: AppDep) -> Customer:
    """The customer erases their personal data."""
    customer = _me(session, caller)
    cancelled = crud.erase(session, customer, state.clock())
    session.commit()
    _announce(state, session, cancelled)
    session.refresh(customer)
    return customer


@router.get("/me/coupons", response_model=list[CouponPublic])
def my_coupons(session: SessionDep, state: StateDep, caller: AppDep) -> list[Coupon]:
    """The customer's coupons that can still be used (the app polls this)."""
    customer = _me(session, caller)
    now = state.clock()
    rows = session.exec(
        select(Coupon)
        .where(
            Coupon.customer_id == customer.id,
            col(Coupon.valid_until) > now,
            Coupon.status != "redeemed",
        )
        .order_by(col(Coupon.issued_at))
    ).all()
    return list(rows)


def _announce(state: AppState, session: Session, alerts: list[Alert]) -> None:
    for alert in alerts:
        state.feed.publish(alert.store_id, feed_message(session, alert))
