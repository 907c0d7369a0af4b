"""Every tunable of the engine, in one place, each with the reason for its default.

A store file may override any of them under ``engine:``; unknown names are an error.
Units: seconds, dB, dBm, metres, probabilities in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class EngineConfig:
    """Engine tuning; defaults from radio physics, checked with ``proximity eval``."""

    tick_s: float = 0.5
    """Decision step. Half a second keeps fob entry latency near 1 s while one tick of
    vectorised work per store stays cheap (a 1 s phone contributes at most one reading)."""

    lateness_s: float = 1.0
    """How long a tick waits for readings of other gateways that arrive out of order.
    Gateways batch every 0.5 s, so one second covers a batch in flight."""

    smooth_tau_s: float = 1.0
    """Time constant of the per-(device, gateway) exponential smoother. Fast fading has a
    2-4 dB spread per packet; 1 s averages about 10 fob packets and lags a walking shopper
    (1.2 m/s) by about a metre. Longer averaging is left to the zone filter, which weighs
    evidence over time without delaying the RSSI itself."""

    rise_tau_s: float = 0.5
    """Time constant while the signal rises. Body blocking (about 10 dB, toggling every 2-10 s)
    and channel nulls only ever pull RSSI down, so rises are trusted faster than falls."""

    max_fall_db_per_s: float = 6.0
    """The fastest the smoothed value may fall. A body stepping into the path takes 10 dB off
    a link at once, for 2-10 s; the zone model allows for that itself (``body_loss_db``), so
    the cap need only ride over single deep nulls. Crossing the shopfront changes each link
    by the facade's loss at once too, and a cap that rides over blocks (3 dB/s) delayed
    exactly that evidence. Ten runs each (``python -m bench.sweep``), 6 against 3: default
    (seeds 7-16) entry recall 69.9 % to 77.2 %, precision 54.1 % to 60.1 %, entries at p95
    7.9 to 6.8 s, passers-by given an entry 9.2 % to 10.5 %, spurious zone changes 17.8 to
    20.2 per device-hour; busy (11-20) recall 54.8 % to 58.5 %, p95 8.4 to 7.1 s, passers-by
    4.4 % to 4.7 %; hard (23-32) p95 9.3 to 6.8 s, passers-by 12.9 % to 12.1 %; 12 dB/s
    was no better on default. The one-gateway boutique (3-12) loses: recall 71.4 % to 61.5 %,
    in-store accuracy 46.6 % to 44.4 %; a store with one gateway should set 3 (as
    ``config/stores/boutique.yaml`` does)."""

    body_loss_db: float = 10.0
    """Loss of a link blocked by the wearer's body (blockage studies: 3-20 dB, 10 typical).
    0 turns the blocking model off."""

    body_prob: float = 0.3
    """Share of links blocked at any moment: the body shadows the gateways behind the wearer,
    about a third of the directions."""

    refine_points: int = 4
    """Best points per zone re-scored with the blocking model."""

    outlier_db: float = 10.0
    """A reading further than this from the smoothed value is clipped to it before it is
    averaged in: deep channel nulls (10-20 dB) and single reflections move the estimate by at
    most this much times the smoothing weight."""

    stale_s: float = 6.0
    """A (device, gateway) estimate not refreshed for this long is forgotten; the gateway then
    counts as not hearing the device. Six missed phone packets at 1 s are unlikely (host drop
    5 %) unless the device really moved out of range."""

    p1m_dbm: float = -59.0
    """RSSI at 1 m of a 0 dBm transmitter when a reading carries no tx_power (beacon vendors)."""

    path_loss_n: float = 2.2
    """Path-loss exponent the geometric model starts from (ITU-R P.1238 for shops, BLE
    measurements); rooms range from 1.5 to 3.5 (FIELD_NOTES). ``python -m bench.pathloss``
    (three default runs per exponent): told the true exponent, in-store accuracy moved by at
    most 2 points between 1.6 and 3.0 (at 2.6 and 3.0, 2.2 did as well or better); at 3.5 a
    model held at 2.2 found 18.1 % of entries and the engine, moving itself to 3.5
    (``path_loss_switch_nats``), 51.8 % (told 3.5: 55.4 %). docs/store.md says how to measure
    it."""

    path_loss_switch_nats: float = 2.0
    """How far another path-loss exponent (1.6, 1.9, 2.2, 2.6, 3.0, 3.5) must lead the current
    one, in log-likelihood per device scored (forgotten over ten minutes), before the geometric
    model is rebuilt at it (`Engine._judge_exponent`). Measured with ``python -m
    bench.pathloss`` (seeds 7-9): the best other exponent led by at most 0.20 under the
    simulator's 2.2, 0.78 under 2.6 and 1.12-1.73 under 3.0 (walls and bodies read as steeper
    fading), and under 3.5 every other trailed 3.5 by 0.29 or more. 2 keeps every room up to 3.0
    where it starts (moving did not help there: 1 moved the 3.0 runs to 3.0, entry recall 44.6 %
    to 41.0 %) and moves a room at 3.5 (entry recall 18.1 % to 51.8 %, in-store accuracy 55.7 %
    to 69.0 %). 0 keeps ``path_loss_n`` for good."""

    sigma_db: float = 4.0
    """Spread of a smoothed reading around the model: the 4 dB of shadowing dominates what is
    left after smoothing. Measured on the default scenario, 4 dB placed shoppers better than
    5, 6 or 8 (wider spreads flatten the zones' likelihoods and delay every decision)."""

    device_offset_sd_db: float = 6.0
    """Prior spread of a new device's unknown transmit offset (phone models differ by
    N(0, 5 dB)); the engine estimates the offset per device from all gateways at once and
    learns it over the device's stay."""

    device_offset_min_sd_db: float = 2.0
    """Spread of a device's offset once it is well learned: it never becomes certain, because
    a phone moves from hand to pocket."""

    offset_learn_s: float = 10.0
    """Seconds of confident placement that halve the offset's prior variance; after
    ``offset_learn_s * (sd^2 / min_sd^2 - 1)`` seconds (80 s by default) the spread reaches
    its minimum. A weak phone then no longer looks like a phone far away."""

    offset_outside_weight: float = 1.0
    """How much a confident step placed in an ``outside`` zone teaches the street's side of a
    device's transmit offset (``offset_cross_weight``), against a step in the store teaching
    the store's side (0: the street's side is never learned). The street is large and a
    device on it is placed with little certainty about its distance, heard by the store's
    gateways near their floor, where only the luckier packets get through: the offset learned
    there comes out too loud, and that is half of why passers-by are kept out (a "loud"
    device by the window looks far away). Over ten runs of the default scenario (seeds 7-16,
    ``python -m bench.sweep``), 0.5, 0.25 and 0 placed shoppers a little better (in-store
    76.5 %, 76.8 % and 77.5 % against 76.0 %) and gave 11.4 %, 13.4 % and 29.9 % of
    passers-by an entry instead of 9.2 %. Set 0 where passers-by are rare (a store inside a
    mall with no street gateway)."""

    offset_cross_weight: float = 0.1
    """How much of what a device's steps in the store taught about its transmit offset the
    street's zones use, and the reverse, counted in seconds of confident placement (0: each
    side of the shopfront learns its own offset; 1: one shared offset, as the per-side sums
    pool). The street explains a quiet phone in the store as a loud one far away; with one
    shared offset the store's zones were then scored at the loud offset the street had
    taught, and a shopper placed on the street by mistake stayed there or came back as a
    second visit. Against one shared offset, ten runs each (``python -m bench.sweep``, with
    ``exit_release_lost`` 2): default in-store accuracy 74.6 % to 76.1 %, entry precision
    50.3 % to 55.8 %, passers-by given an entry 9.5 % to 9.2 %; busy 67.1 % to 70.8 %, 29.1 %
    to 38.3 %; hard 33.0 % to 37.9 %, passers-by 16.0 % to 12.9 %, entry recall 26.3 % to
    23.7 %; entries up to a second and exits about two seconds later at p95 (which
    ``exit_release_lost`` 1 takes back). Chosen on the default scenario's
    seeds 1-6 against 0, 0.03, 0.3 and 1 (docs/accuracy.md): less lets more passers-by in,
    more places shoppers worse. Used where the store has outside zones and at least two
    gateways; with one gateway an offset cannot be told from a distance, and the shared one
    is what carries a device's level across the door."""

    floor_dbm: float = -95.0
    """Receiver sensitivity: a gateway that does not hear a device is evidence the device is
    far from it, weighed against this floor."""

    miss_weight: float = 0.5
    """Weight of the 'not heard' evidence relative to a reading (host drops and collisions make
    silence less reliable than a reading)."""

    evidence_per_s: float = 0.5
    """Tempering of the likelihood per second of new data: smoothed values a tick apart are
    strongly correlated, so a second of readings counts as less than one independent
    observation. Scaled by the time since the device's last update (capped at 2 s), so 1 s
    phones and 100 ms fobs gather evidence at the same rate."""

    fresh_evidence_db: float = 1.5
    """Readings changing at this rate (RMS over gateways, dB per second) count double, and
    faster change up to ``fresh_evidence_max`` times: a device on the move sees new shadowing,
    while one standing still repeats the same errors. Walking changes a link by about 2 dB/s.
    On the default scenario, 1.5 raised entry recall (5 s window) from 42 % to 63 % at equal
    zone accuracy. 0 turns it off."""

    fresh_evidence_max: float = 4.0
    """Most that fresh readings may multiply the evidence of a step."""

    switch_rate_per_s: float = 0.01
    """Prior rate of moving to an adjacent zone. Shoppers dwell about a minute per zone, and
    a walk through a zone takes seconds, so a switch is rare per second; 0.01 cut spurious
    changes by a third against 0.05 at equal zone accuracy (default scenario)."""

    door_rate_per_s: float = 0.1
    """Prior rate of crossing the door (an ``outside`` zone to an ``entrance`` zone and back).
    Higher than between zones inside: a shopper crosses the door in a second or two and the
    entrance zone in a few more, so a sticky door delays every entry. On the default scenario
    0.1 raised entry recall (5 s window) from 30 % to 49 % for 4 points more passers-by
    placed inside than 0.01; 0.5 gained little more recall and lost zone accuracy."""

    jump_rate_per_s: float = 0.0005
    """Prior rate of moving to a non-adjacent zone: a safety valve so that a wrong zone is left
    even when adjacency is wrong."""

    facade_loss_db: float = 4.0
    """Extra loss on links that cross the shopfront (a point in an ``outside`` zone heard by
    a gateway inside, or the reverse): shop windows take 2-6 dB, walls more."""

    height_m: float = 1.5
    """Vertical distance between a gateway (mounted about 2.5 m high) and a carried device
    (about 1 m): no device is ever closer to a gateway than this, which bounds the model's
    expected RSSI near a gateway."""

    max_points_per_zone: int = 150
    """Cap on a zone's sample points; the grid coarsens for zones larger than this."""

    range_m: float = 20.0
    """Points of a zone farther than this from every gateway are dropped from the model: at
    20 m a phone is near the sensitivity floor, and a long street zone would otherwise carry
    hundreds of points nobody can be heard from."""

    grid_m: float = 1.0
    """Spacing of the sample points that represent a zone polygon in the geometric model."""

    enter_prob: float = 0.8
    """Posterior a zone needs before a device not yet in the store is placed in it."""

    confirm_s: float = 0.5
    """How long a challenger zone must stay the most likely before the decision moves (minimum
    dwell): a single lucky tick never moves a shopper."""

    move_prob: float = 0.9
    """Posterior a zone needs before a device already in the store is moved to it."""

    move_confirm_s: float = 0.5
    """How long that zone must stay the most likely before the move."""

    leave_prob: float = 0.99
    """Posterior an outside zone needs before a device in the store is moved out. Leaving is
    the costliest mistake (it splits a visit, and a re-entry would welcome the shopper
    again), and a shopper who really leaves is soon unheard anyway. Against 0.95, 0.99 kept
    more shoppers in the one-gateway boutique, where a weak phone in a corner and a strong one
    on the pavement sound alike (in-store accuracy 45 % to 52 %, entry precision 30 % to
    60 %), and changed default, busy and hard by at most half a point. Not for a device whose
    store entry is still held (``entry_hold_s``): nothing has been published, so it goes back
    out on ``enter_prob`` for ``confirm_s`` and the held entry is dropped (default scenario,
    seeds 1-6: entry recall 77.9 % to 81.6 %, passers-by given an entry 5.6 % to 4.4 %)."""

    leave_confirm_s: float = 3.0
    """How long the outside zone must stay the most likely before a device in the store is
    moved out (the same reasoning as ``leave_prob``)."""

    visit_gap_s: float = 20.0
    """A device placed outside returns within this long: the excursion never happened (one
    visit, no exit, no second welcome). Exits through the street are published this much
    later, stamped with the time the device was placed outside; silence (the exit timeout)
    still ends a visit at once. The trade-off, measured on the default scenario with latency
    taken to publication and without the early release below: 20 s gives exits at p50 / p95
    24 / 37 s (phones) and store-entry precision 42 %; 45 s lets more misplaced shoppers
    (standing by the window inside, heard for minutes) stay one visit, precision 46 %, but
    exits come at 48 / 56 s; 15 s, 19 / 32 s and 38 %. Real leavers stay audible on the
    street for 20-40 s, so silence rarely confirms an exit sooner; ``exit_release_drop_db``
    publishes sooner the exits of devices heard walking away. 0 turns it off."""

    exit_release_drop_db: float = 3.0
    """A held street exit (``visit_gap_s``) is published at once when the device is walking
    away: its mean RSSI over the store's gateways (the floor where one does not hear it) has
    fallen this far below its value at the move, and ``exit_release_lost`` fewer of those
    gateways hear it, both for ``exit_release_s``. A shopper misplaced by the shop window is
    heard as before; one who left walks along the pavement, away from every gateway of the
    store. On the default scenario this moved exits from p50 / p95 24.5 / 37.1 s to
    23.2 / 28.5 s (phones; fobs 36.4 / 45.0 s to 23.3 / 42.7 s), on busy from 24.5 / 37.6 s
    to 22.3 / 35.9 s, with entry precision, passers-by and zone accuracy unchanged on all four
    scenarios (one more engine+fp entry on hard, precision 10.7 % to 10.6 %). Measuring the
    fall from the last step at which the store was still the most likely place, rather than
    from the move (decided seconds into the walk away), then gave 20.9 / 25.5 s for phones and
    22.8 / 40.8 s for fobs on default, and phones on hard 22.6 / 32.5 s to 15.9 / 31.2 s. A
    fall of the level alone (no gateway lost) released twice as many misplaced shoppers as
    leavers on hard (entry precision 16 % to 14 %); the strongest reading alone (10 dB)
    barely helped (phones p95 37.1 to 36.5 s on default). 0 turns it off."""

    exit_release_lost: int = 1
    """Store gateways that must have lost the device (see ``exit_release_drop_db``): a
    gateway loses a device only after ``stale_s`` of silence. With two instead of one, fewer
    shoppers misplaced on the street are let go (their visit splits in two, a second welcome)
    and exits come later. Ten runs each (``python -m bench.sweep``), one gateway against two:
    default (seeds 7-16) exits published at p95 28.7 / 31.9 s (phones / fobs) against
    32.6 / 34.7 s, entry precision 60.1 % against 63.1 %; busy (seeds 11-20) 28.4 / 32.0 s
    against 30.4 / 34.2 s, precision 38.4 % against 40.9 %; hard (seeds 23-32) 25.0 / 24.6 s
    against 31.5 / 30.2 s, precision 7.4 % against 9.3 %. One puts the default store's exits
    within the 32 s target for a few more second visits. The one-gateway boutique never
    releases early (it keeps the full hold)."""

    exit_release_s: float = 2.0
    """How long both conditions must hold before a held street exit is released. Counted
    over the held exits of the default, busy and hard scenarios, 4 s released fewer leavers
    early (14 against 18 of the 27 real exits on default) and no misplaced shopper either
    way."""

    entry_hold_s: float = 8.0
    """A move from an ``outside`` zone into the store is published only once the device has
    stayed in the store this long, or sooner when it is placed deeper in (a zone of the store
    other than the one it came in to) or the filter is sure (``entry_release_prob``); it is
    stamped with the time of the move either way. Passers-by given an entry were placed in
    the entrance for 4-6 s as they walked past the door, then back on the street; held, that
    placement is dropped. Measured on the default scenario against publishing at once:
    passers-by given an entry 10 % to 2 %, entry precision 42 % to 49 %, street accuracy
    94.2 % to 95.0 %, at the cost of entries published later (phones p50 / p95 2.9 / 4.8 s to
    4.6 / 7.5 s, fobs 4.5 / 4.8 s to 4.9 / 6.3 s); busy: passers-by 12.6 % to 9.0 %. A 4 s
    hold kept 8 % of passers-by. 0 publishes entries at once."""

    entry_release_prob: float = 0.99
    """A held entry is published at once when the store's zones together hold this much of
    the device's posterior: most shoppers are released within a few seconds, while a
    passer-by placed in the entrance rarely looks that sure (0.97 let 6 % of passers-by in on
    the default scenario, 0.99 2 %). 1 waits for the full hold."""

    entry_release_s: float = 0.0
    """How long the store must hold ``entry_release_prob`` before a held entry is released
    early. A fingerprint model fitted by ``calibrate`` is sharper at the door than the
    geometric one and is often 99 % sure of a passer-by walking past it: on the default
    scenario's ``engine+fp`` column 2 s cut passers-by given an entry from 12 % to 4 %
    (precision 45.8 % to 50.0 %), but every entry came about 2 s later (geometric phones
    p50 / p95 4.6 / 7.5 s to 6.6 / 9.1 s), 1 s 8 %. Worth setting with a calibration model on
    a busy street; 0 releases as soon as the filter is sure."""

    exit_release_memory_s: float = 8.0
    """How long the recent peak of a device's level (see ``exit_release_drop_db``) takes to
    forget ``exit_release_drop_db`` and ``exit_release_lost`` gateways. A leaver placed
    inside for 20 s after she walked out (one lingering at the window) is decided out with
    her level already low; against the recent peak, her held exit is still released early.
    Against 0 (only the reference from before the move), with exits matched within 40 s as
    ``proximity eval`` does: on the default scenario fob exits came at p95 36.1 s instead of
    40.8 s (phones p50 20.9 to 20.4 s), busy phones p50 21.6 to 20.9 s, hard fobs p50 15.8
    to 14.8 s, with entry precision 26.8 % to 26.5 % on busy and unchanged on default and
    hard. 15 s released misplaced shoppers as well (default entry precision 48.6 % to
    43.9 %, fobs p95 32.9 s)."""

    min_stay_s: float = 20.0
    """A move between zones of the store is published only once the new zone has held this
    long, or sooner when the filter is sure of it (``zone_release_prob``), stamped with the
    time of the move; shorter stays are dropped as misreadings. With the early release, 20 s
    against 10 s cut spurious zone changes from 31.1 to 20.2 per device-hour on the default
    scenario (busy 30.5 to 19.1) at equal in-store accuracy and p50 latency (4.0 s, phones),
    for a later p95 (phones 16.2 to 16.5 s, fobs 17.5 to 27.2 s) and 5 % fewer true stays
    matched; 30 s, 16.0 per device-hour but fobs at p95 37 s and in-store accuracy 72.1 %.
    0 publishes every move at once."""

    zone_release_prob: float = 0.999
    """A held move between zones of the store is published at once when its zone holds this
    much of the device's posterior. Measured against waiting for the full ``min_stay_s``:
    zone changes published p50 / p95 13.0 / 18.1 s after the fact to 4.3 / 16.2 s (phones,
    default scenario), 13.2 / 18.2 s to 5.1 / 16.4 s on busy, for spurious zone changes 29.9
    to 31.1 per device-hour (busy 28.7 to 30.5, hard 38.2 to 41.7) and in-store accuracy
    72.7 % to 73.1 %. 0.99 reached 3.6 / 10.6 s but 42.8 spurious changes per device-hour.
    1 always waits for the hold."""

    exit_timeout_s: float = 15.0
    """A device unheard by every gateway for this long has left: zone_exit and store_exit are
    emitted with the time the timeout ran out. Phones advertise every second, so 15 silent
    seconds are not a dropped packet; shorter than Bermuda (30 s), far shorter than HA (180 s)."""

    evict_s: float = 120.0
    """State of a device unheard for this long is dropped entirely (bounded memory)."""

    calibration_samples: float = 400.0
    """Self-calibration of gateway offsets: device-ticks of confident evidence that move the
    learned offset most of the way to what the data says (0 turns it off). Real gateways
    differ by N(0, 3 dB); a few hundred confident readings, a minute or two of a store with a
    handful of shoppers, average the noise down to a fraction of a dB."""

    calibration_min_prob: float = 0.9
    """Posterior a device needs before its readings teach the gateway offsets."""

    entry_backdate_max_s: float = 10.0
    """Stamp a store entry with the estimated moment the device came in, at most this long
    before the decision. The evidence for "in the store" against "outside" is summed per step
    (a CUSUM, reset to zero whenever the sum turns against the store); when an entry is
    decided, the first step of the current run is the maximum-likelihood change point. The
    decision itself, and so the moment the entry is published, is unchanged: smoothing, the
    filter and the hysteresis add seconds on top of the evidence, and those seconds are not
    when the shopper came in. On the default scenario decisions come 4.5 s (p50) after the
    true entry and 13 s at p95; a run of evidence much longer than that is a device that was
    inside all along and misplaced on the street, whose entry time is not known, hence the
    limit. 0 stamps entries when they are decided."""

    min_readings_entry: int = 2
    """Readings a device needs before it may be placed in the store at all: one reading is not
    a visit."""

    def without_holds(self) -> EngineConfig:
        """The same tuning with every decision published at once: no held entry, zone move
        or street exit (the naive baseline, and tests that look at decisions one by one)."""
        return replace(self, entry_hold_s=0.0, min_stay_s=0.0, visit_gap_s=0.0)


def config_keys() -> list[str]:
    """Names of all tunables, for validation and docs."""
    return [f.name for f in fields(EngineConfig)]
