"""Synthetic card transactions with tagged fraud scenarios: ``latte-vt data transactions-synthetic``.

Everything is vectorised numpy (no per-event Python loop) and seeded. Accounts have habits: a Poisson
rate with a weekly pattern and a personal diurnal shift, favourite merchants, monthly bills, a home
region (and occasional trips), a card-present vs online mix, chip vs swipe, their own devices (and
sometimes a new phone). Amounts are log-normal per MCC and per account.

Fraud is injected as incidents, every event tagged with its ``scenario``:

* ``card_testing``: a burst of tiny online payments at new merchants, seconds to minutes apart.
* ``account_takeover``: a new device in a new region, then growing online amounts within hours.
* ``impossible_travel``: card-present events in a far region minutes after a genuine one at home.
* ``merchant_compromise``: cards used at a compromised merchant during its breach window are misused
  2-21 days later (new region or new device, larger amounts).

Fraud rows draw amounts, MCCs, channels and hours from ranges that legitimate rows also cover (small
digital purchases, big electronics, trips, new phones, night-time bills), so it is the change against
the account's own history that gives a fraud away, not the row alone. Label noise: a share of fraud
events is labelled 0 (missed) and as many legitimate events are labelled 1 (false claims).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from latte_vt.errors import InputError

if TYPE_CHECKING:
    import polars as pl

SCENARIOS = ("none", "card_testing", "account_takeover", "impossible_travel", "merchant_compromise")
CHANNELS = ("chip", "swipe", "online")
DAY = 86_400

# MCC, log-mean amount ($), log-sd, weight at card-present merchants, weight at online merchants.
MCC_TABLE = np.array(
    [
        (5411, np.log(45.0), 0.7, 6.0, 0.5),  # grocery
        (5812, np.log(28.0), 0.6, 4.0, 0.0),  # restaurants
        (5814, np.log(11.0), 0.5, 4.0, 0.0),  # fast food
        (5541, np.log(40.0), 0.4, 3.0, 0.0),  # fuel
        (5912, np.log(22.0), 0.7, 2.0, 0.5),  # pharmacy
        (5311, np.log(60.0), 0.9, 2.0, 2.0),  # department stores
        (5732, np.log(150.0), 1.0, 1.0, 1.5),  # electronics
        (5944, np.log(200.0), 1.0, 0.5, 0.5),  # jewellery
        (5999, np.log(35.0), 0.9, 2.0, 2.0),  # misc retail
        (7011, np.log(180.0), 0.6, 1.0, 0.5),  # hotels
        (4121, np.log(18.0), 0.5, 0.0, 2.0),  # taxis / ride share
        (5815, np.log(5.0), 0.8, 0.0, 3.0),  # digital goods
        (5816, np.log(8.0), 0.9, 0.0, 1.5),  # games
        (4511, np.log(350.0), 0.7, 0.0, 0.5),  # airlines
    ]
)
BILL_MCCS = np.array([(4900, np.log(90.0), 0.4), (4814, np.log(50.0), 0.3), (4899, np.log(14.0), 0.3)])
BIG_TICKET_MCCS = (5311, 5732, 5944, 4511)  # what account takeovers buy
DIURNAL = np.array([1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 2, 3, 3.5, 4, 4.5, 5, 4.5, 4, 4, 4.5, 5, 5.5, 5, 4, 3, 2, 1.5])


@dataclass(frozen=True)
class TransactionSynthConfig:
    """Size and mix of a synthetic transaction log.

    Args:
        accounts: number of card accounts.
        days: length of the log in days.
        seed: random seed; the same config always gives the same file.
        start: first day (UTC), ISO date.
        regions: number of regions (points on a unit square; "far" means more than 0.5 apart).
        merchants_per_region: card-present merchants per region.
        online_merchants: online merchants (any region).
        fraud_rate: target share of fraudulent events (0.002-0.01 is realistic).
        label_noise: share of fraud events labelled 0; as many legitimate events are labelled 1.
    """

    accounts: int = 2000
    days: int = 120
    seed: int = 0
    start: str = "2024-01-01"
    regions: int = 40
    merchants_per_region: int = 60
    online_merchants: int = 400
    fraud_rate: float = 0.005
    label_noise: float = 0.02


@dataclass
class _World:
    """Merchants, regions and accounts shared by the legitimate and the fraud generators."""

    region_xy: np.ndarray  # (R, 2)
    merchant_mcc: np.ndarray  # (M,) row of MCC_TABLE, or len(MCC_TABLE) + row of BILL_MCCS for billers
    physical_start: np.ndarray  # (R,) first physical merchant of each region (merchants sorted by region)
    physical_count: int
    online_ids: np.ndarray  # (O,)
    online_popularity: np.ndarray  # (O,) probabilities
    biller_ids: np.ndarray  # (B,)
    home: np.ndarray  # (A,)
    amount_shift: np.ndarray  # (A,) log-scale spending level


def _world(cfg: TransactionSynthConfig, rng: np.random.Generator) -> _World:
    R, P, O, A = cfg.regions, cfg.merchants_per_region, cfg.online_merchants, cfg.accounts
    n_bill = 30
    phys_w = MCC_TABLE[:, 3] / MCC_TABLE[:, 3].sum()
    online_w = MCC_TABLE[:, 4] / MCC_TABLE[:, 4].sum()
    merchant_mcc = np.concatenate(
        [
            rng.choice(len(MCC_TABLE), R * P, p=phys_w),
            rng.choice(len(MCC_TABLE), O, p=online_w),
            len(MCC_TABLE) + rng.integers(0, len(BILL_MCCS), n_bill),
        ]
    )
    popularity = 1.0 / np.arange(1, O + 1) ** 0.8
    return _World(
        region_xy=rng.random((R, 2)),
        merchant_mcc=merchant_mcc,
        physical_start=np.arange(R) * P,
        physical_count=P,
        online_ids=np.arange(R * P, R * P + O),
        online_popularity=popularity / popularity.sum(),
        biller_ids=np.arange(R * P + O, R * P + O + n_bill),
        home=rng.integers(0, R, A),
        amount_shift=rng.normal(0.0, 0.35, A),
    )


def _mcc_params(world: _World, merchants: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log-mean and log-sd of the amount at each merchant."""
    table = np.concatenate([MCC_TABLE[:, 1:3], BILL_MCCS[:, 1:3]])
    row = world.merchant_mcc[merchants]
    return table[row, 0], table[row, 1]


def _mcc_codes(world: _World, merchants: np.ndarray) -> np.ndarray:
    codes = np.concatenate([MCC_TABLE[:, 0], BILL_MCCS[:, 0]]).astype(np.int32)
    return codes[world.merchant_mcc[merchants]]


def _random_physical(world: _World, region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniformly chosen card-present merchant in each given region."""
    return world.physical_start[region] + rng.integers(0, world.physical_count, len(region))


def _random_online(world: _World, n: int, rng: np.random.Generator) -> np.ndarray:
    return world.online_ids[rng.choice(len(world.online_ids), n, p=world.online_popularity)]


def _far_region(world: _World, region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each region, a random region more than 0.5 away (the farthest one if none is)."""
    dist = np.linalg.norm(world.region_xy[:, None] - world.region_xy[None], axis=-1)  # (R, R)
    far = dist > 0.5
    far[~far.any(1), dist[~far.any(1)].argmax(1)] = True
    order = np.argsort(~far, axis=1, kind="stable")  # far regions first, per row
    pick = (rng.random(len(region)) * far.sum(1)[region]).astype(np.int64)
    return order[region, pick]


def _other_region(n_regions: int, region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random region different from each given one."""
    return (region + rng.integers(1, n_regions, len(region))) % n_regions


def _bursts(t0: np.ndarray, k: np.ndarray, mean_gap: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Expand incidents (start t0, size k) into per-event (incident index, time): exponential gaps after t0."""
    incident = np.repeat(np.arange(len(k)), k)
    first = np.cumsum(k) - k
    gaps = rng.exponential(mean_gap, incident.size)
    gaps[first] = 0.0
    cum = np.cumsum(gaps)
    return incident, t0[incident] + cum - cum[first][incident]


def _trips(
    cfg: TransactionSynthConfig, world: _World, acct: np.ndarray, t: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Trips of 2-6 days to another region, about one per account every four months.

    Returns, per event, whether its account is away and the region it is in (home or the trip's).
    """
    n_trips = rng.poisson(cfg.days / 120.0, cfg.accounts)
    trip_acct = np.repeat(np.arange(cfg.accounts), n_trips)
    if trip_acct.size == 0:
        return np.zeros(t.size, bool), world.home[acct]
    span = float((cfg.days + 8) * DAY)  # one account's time range, keys below are account * span + time
    trip_key = trip_acct * span + rng.uniform(0, cfg.days * DAY, trip_acct.size)
    order = np.argsort(trip_key)
    trip_key, trip_acct = trip_key[order], trip_acct[order]
    trip_end = trip_key + rng.integers(2, 7, trip_acct.size) * DAY
    trip_region = _other_region(cfg.regions, world.home[trip_acct], rng)
    idx = np.clip(np.searchsorted(trip_key, acct * span + t, side="right") - 1, 0, None)  # last trip started before
    away = (trip_acct[idx] == acct) & (acct * span + t >= trip_key[idx]) & (acct * span + t < trip_end[idx])
    return away, np.where(away, trip_region[idx], world.home[acct])


def _legit(cfg: TransactionSynthConfig, world: _World, rng: np.random.Generator) -> dict[str, np.ndarray]:
    A, D = cfg.accounts, cfg.days
    rate = rng.lognormal(np.log(1.8), 0.5, A)
    weekend = rng.uniform(0.6, 1.4, A)
    shift = rng.normal(0.0, 1.5, A)  # hours
    online_share = rng.beta(2, 5, A)
    chip_share = rng.beta(8, 2, A)
    fav_share = rng.beta(6, 3, A)
    favs_physical = _random_physical(world, np.repeat(world.home, 6), rng).reshape(A, 6)
    favs_online = _random_online(world, 3 * A, rng).reshape(A, 3)

    dow = (np.arange(D) + np.datetime64(cfg.start, "D").astype(object).weekday()) % 7  # 0 = Monday
    day_rate = rate[:, None] * np.where(dow >= 5, weekend[:, None], 1.0)  # (A, D)
    counts = rng.poisson(day_rate)
    acct = np.repeat(np.repeat(np.arange(A), D), counts.ravel())
    day = np.repeat(np.tile(np.arange(D), A), counts.ravel())
    n = acct.size
    hour = rng.choice(24, n, p=DIURNAL / DIURNAL.sum()) + rng.random(n) + shift[acct]
    t = day * DAY + np.mod(hour, 24.0) * 3600.0

    travelling, region = _trips(cfg, world, acct, t, rng)

    online = rng.random(n) < online_share[acct]
    fav = rng.random(n) < fav_share[acct]
    fav_rank_p = 1.0 / np.arange(1, 7)
    merchant = np.where(
        online,
        np.where(
            fav,
            favs_online[acct, rng.choice(3, n, p=fav_rank_p[:3] / fav_rank_p[:3].sum())],
            _random_online(world, n, rng),
        ),
        np.where(
            fav & ~travelling,
            favs_physical[acct, rng.choice(6, n, p=fav_rank_p / fav_rank_p.sum())],
            _random_physical(world, region, rng),
        ),
    )
    channel = np.where(online, 2, np.where(rng.random(n) < chip_share[acct], 0, 1))

    # devices (online only): a phone, sometimes a tablet, and for some accounts a new phone from a date on
    has_tablet = rng.random(A) < 0.3
    new_phone_at = np.where(rng.random(A) < 0.25, rng.uniform(0, D * DAY, A), np.inf)
    device = np.where(t >= new_phone_at[acct], A + acct, acct)
    device = np.where(has_tablet[acct] & (rng.random(n) < 0.25), 2 * A + acct, device)
    device = np.where(online, device, -1)

    mu, sd = _mcc_params(world, merchant)
    amount = np.exp(mu + world.amount_shift[acct] + sd * rng.standard_normal(n))
    amount = np.where(~online & (rng.random(n) < 0.005), -amount, amount)  # refunds

    # monthly bills, charged by the biller at night (merchant-initiated, no device)
    n_bills = rng.integers(1, 4, A)
    bill_acct = np.repeat(np.arange(A), n_bills)
    biller = world.biller_ids[rng.integers(0, len(world.biller_ids), bill_acct.size)]
    bill_mu, bill_sd = _mcc_params(world, biller)
    bill_amount = np.round(np.exp(bill_mu + bill_sd * rng.standard_normal(bill_acct.size)), 2)
    bill_offset = rng.uniform(0, 30 * DAY, bill_acct.size)
    months = np.arange(0, D // 30 + 1)
    bill_t = (bill_offset[:, None] + months[None] * 30 * DAY).ravel()
    bill_rep = np.repeat(np.arange(bill_acct.size), months.size)
    keep = bill_t < D * DAY
    bill_t, bill_rep = bill_t[keep], bill_rep[keep]
    bill_t = np.floor(bill_t / DAY) * DAY + rng.uniform(2, 6, bill_t.size) * 3600.0

    return {
        "account": np.concatenate([acct, bill_acct[bill_rep]]),
        "t": np.concatenate([t, bill_t]),
        "amount": np.concatenate([amount, bill_amount[bill_rep]]),
        "merchant": np.concatenate([merchant, biller[bill_rep]]),
        "region": np.concatenate([region, world.home[bill_acct[bill_rep]]]),
        "channel": np.concatenate([channel, np.full(bill_rep.size, 2)]),
        "device": np.concatenate([device, np.full(bill_rep.size, -2)]),
    }


def _fraud(
    cfg: TransactionSynthConfig, world: _World, legit: dict[str, np.ndarray], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    A, R, end = cfg.accounts, cfg.regions, cfg.days * DAY
    target = cfg.fraud_rate * legit["t"].size / (1.0 - cfg.fraud_rate)
    next_device = [3 * A]

    def fresh_devices(n: int) -> np.ndarray:
        start = next_device[0]
        next_device[0] += n
        return np.arange(start, start + n)

    parts = []

    # card testing: 3-12 tiny online payments at random (new) merchants, about a minute apart
    n_inc = rng.poisson(0.3 * target / 7.5)
    k = rng.integers(3, 13, n_inc)
    inc, t = _bursts(rng.uniform(DAY, end, n_inc), k, 60.0, rng)
    merchant = _random_online(world, inc.size, rng)
    parts.append(
        {
            "account": rng.integers(0, A, n_inc)[inc],
            "t": t,
            "amount": np.round(rng.uniform(0.5, 4.0, inc.size), 2),
            "merchant": merchant,
            "region": rng.integers(0, R, n_inc)[inc],
            "channel": np.full(inc.size, 2),
            "device": fresh_devices(n_inc)[inc],
            "scenario": np.full(inc.size, 1),
        }
    )

    # account takeover: new device in another region, then 2-6 growing big-ticket online purchases
    n_inc = rng.poisson(0.25 * target / 4.0)
    acct = rng.integers(0, A, n_inc)
    k = rng.integers(2, 7, n_inc)
    inc, t = _bursts(rng.uniform(DAY, end, n_inc), k, 1200.0, rng)
    big = world.online_ids[np.isin(_mcc_codes(world, world.online_ids), BIG_TICKET_MCCS)]
    merchant = big[rng.integers(0, len(big), inc.size)]
    mu, sd = _mcc_params(world, merchant)
    step = np.arange(inc.size) - (np.cumsum(k) - k)[inc]
    parts.append(
        {
            "account": acct[inc],
            "t": t,
            "amount": np.exp(mu + world.amount_shift[acct[inc]] + 0.3 * step + sd * rng.standard_normal(inc.size)),
            "merchant": merchant,
            "region": _other_region(R, world.home[acct], rng)[inc],
            "channel": np.full(inc.size, 2),
            "device": fresh_devices(n_inc)[inc],
            "scenario": np.full(inc.size, 2),
        }
    )

    # impossible travel: 1-3 card-present events in a far region, minutes after a genuine card-present one
    present = np.flatnonzero(legit["channel"] < 2)
    n_inc = rng.poisson(0.2 * target / 2.0) if present.size else 0
    anchor = present[rng.integers(0, max(present.size, 1), n_inc)]
    k = rng.integers(1, 4, n_inc)
    inc, t = _bursts(legit["t"][anchor] + rng.uniform(300, 3600, n_inc), k, 900.0, rng)
    region = _far_region(world, legit["region"][anchor], rng)[inc]
    merchant = _random_physical(world, region, rng)
    mu, sd = _mcc_params(world, merchant)
    acct = legit["account"][anchor][inc]
    parts.append(
        {
            "account": acct,
            "t": t,
            "amount": np.exp(mu + world.amount_shift[acct] + 0.3 + sd * rng.standard_normal(inc.size)),
            "merchant": merchant,
            "region": region,
            "channel": np.where(rng.random(inc.size) < 0.6, 1, 0),
            "device": np.full(inc.size, -1),
            "scenario": np.full(inc.size, 3),
        }
    )

    # merchant compromise: cards seen at breached merchants in their breach window are misused 2-21 days later
    n_inc = rng.poisson(0.25 * target / 2.5) if present.size else 0
    n_breached = -(-n_inc // 3)  # a breached merchant sees about ten distinct cards in its window
    breached = legit["merchant"][present[rng.integers(0, max(present.size, 1), n_breached)]]
    window_start = rng.uniform(0, 0.6 * end, n_breached)
    window_end = window_start + rng.uniform(7, 14, n_breached) * DAY
    visits = np.flatnonzero(np.isin(legit["merchant"], breached))
    which = np.argsort(breached)[np.searchsorted(np.sort(breached), legit["merchant"][visits])]
    t_visit = legit["t"][visits]
    hit = visits[(t_visit >= window_start[which]) & (t_visit < window_end[which])]
    victims, first = np.unique(legit["account"][hit], return_index=True)
    seen_at = legit["t"][hit][first]
    start = seen_at + rng.uniform(2, 21, victims.size) * DAY
    in_log = np.flatnonzero(start < end)
    chosen = np.sort(rng.choice(in_log, min(n_inc, in_log.size), replace=False))
    victims, start = victims[chosen], start[chosen]
    k = rng.integers(1, 5, victims.size)
    inc, t = _bursts(start, k, 7200.0, rng)
    acct = victims[inc]
    online = np.repeat(rng.random(victims.size) < 0.5, k)
    region = np.where(online, _other_region(R, world.home[acct], rng), _far_region(world, world.home[acct], rng))
    merchant = np.where(online, _random_online(world, inc.size, rng), _random_physical(world, region, rng))
    mu, sd = _mcc_params(world, merchant)
    parts.append(
        {
            "account": acct,
            "t": t,
            "amount": np.exp(mu + world.amount_shift[acct] + 0.5 + sd * rng.standard_normal(inc.size)),
            "merchant": merchant,
            "region": region,
            "channel": np.where(online, 2, np.where(rng.random(inc.size) < 0.5, 1, 0)),
            "device": np.where(online, fresh_devices(victims.size)[inc], -1),
            "scenario": np.full(inc.size, 4),
        }
    )
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def generate_transactions(cfg: TransactionSynthConfig) -> dict[str, np.ndarray]:
    """Generate the log as numpy columns, sorted by time.

    Returns columns ``account``, ``t`` (int64 seconds since ``cfg.start``), ``amount``, ``merchant``,
    ``mcc``, ``region``, ``channel`` (index into CHANNELS), ``device`` (-1 card present, -2 merchant
    initiated), ``scenario`` (index into SCENARIOS) and ``is_fraud`` (int8, with label noise).
    """
    if cfg.accounts < 1 or cfg.days < 2 or cfg.regions < 2 or cfg.merchants_per_region < 1 or cfg.online_merchants < 1:
        raise InputError(f"need at least 1 account, 2 days, 2 regions and 1 merchant of each kind, got {cfg}")
    if not 0.0 < cfg.fraud_rate < 0.5 or not 0.0 <= cfg.label_noise < 0.5:
        raise InputError(f"fraud_rate must be in (0, 0.5) and label_noise in [0, 0.5), got {cfg}")
    rng = np.random.default_rng(cfg.seed)
    world = _world(cfg, rng)
    legit = _legit(cfg, world, rng)
    legit["scenario"] = np.zeros(legit["t"].size, dtype=np.int64)
    fraud = _fraud(cfg, world, legit, rng)
    cols = {key: np.concatenate([legit[key], fraud[key]]) for key in legit}
    keep = cols["t"] < cfg.days * DAY
    cols = {key: value[keep] for key, value in cols.items()}
    order = np.argsort(np.floor(cols["t"]), kind="stable")
    cols = {key: value[order] for key, value in cols.items()}
    cols["t"] = np.floor(cols["t"]).astype(np.int64)
    cols["amount"] = np.round(cols["amount"], 2)
    cols["mcc"] = _mcc_codes(world, cols["merchant"])
    device = cols["device"]
    shuffle = rng.permutation(max(device.max() + 1, 1))  # device numbers reveal nothing about who made them
    cols["device"] = np.where(device >= 0, shuffle[np.clip(device, 0, None)], device)

    fraud_idx = np.flatnonzero(cols["scenario"] > 0)
    legit_idx = np.flatnonzero(cols["scenario"] == 0)
    n_flip = int(round(cfg.label_noise * fraud_idx.size))
    label = (cols["scenario"] > 0).astype(np.int8)
    label[rng.choice(fraud_idx, n_flip, replace=False)] = 0
    label[rng.choice(legit_idx, min(n_flip, legit_idx.size), replace=False)] = 1
    cols["is_fraud"] = label
    return cols


def to_frame(cols: dict[str, np.ndarray], start: str) -> pl.DataFrame:
    """The generated columns as the published table (string ids, UTC timestamps)."""
    import polars as pl

    def ids(prefix: str, column: str, width: int) -> pl.Expr:
        return pl.concat_str(pl.lit(prefix), pl.col(column).cast(pl.String).str.zfill(width))

    t0 = int(np.datetime64(start, "s").astype(np.int64))
    frame = pl.DataFrame({key: cols[key] for key in ("account", "merchant", "region", "device", "amount", "mcc")})
    frame = frame.with_columns(
        row=pl.int_range(pl.len()),
        t=pl.Series(cols["t"] + t0),
        channel=pl.Series(np.array(CHANNELS)[cols["channel"]]),
        scenario=pl.Series(np.array(SCENARIOS)[cols["scenario"]]),
        is_fraud=pl.Series(cols["is_fraud"]),
    )
    return frame.select(
        ids("T", "row", 9).alias("event_id"),
        ids("A", "account", 6).alias("account_id"),
        pl.from_epoch("t", time_unit="s").dt.replace_time_zone("UTC").dt.cast_time_unit("us").alias("timestamp"),
        "amount",
        ids("M", "merchant", 6).alias("merchant_id"),
        "mcc",
        ids("R", "region", 2).alias("region"),
        "channel",
        pl.when(pl.col("device") == -1)
        .then(pl.lit("pos"))
        .when(pl.col("device") == -2)
        .then(pl.lit("merchant"))
        .otherwise(ids("D", "device", 7))
        .alias("device_id"),
        "is_fraud",
        "scenario",
    )


SCHEMA = {
    "entity": "account_id",
    "time": "timestamp",
    "amount": "amount",
    "categorical": ["merchant_id", "mcc", "region", "channel", "device_id"],
    "numeric": [],
    "label": "is_fraud",
    "event_id": "event_id",
    "passthrough": ["scenario"],
    "on_error": "quarantine",
}
"""The schema mapping of this layout (also shipped as configs/transactions/schema/synthetic.yaml)."""


def _readme(cfg: TransactionSynthConfig, frame: pl.DataFrame, file_name: str) -> str:
    counts = frame["scenario"].value_counts(sort=True)
    lines = [
        "Synthetic card transactions written by `latte-vt data transactions-synthetic`.",
        "",
        f"{file_name}: one row per event, sorted by timestamp. Columns: event_id, account_id, timestamp (UTC),",
        "amount (negative = refund), merchant_id, mcc, region, channel (chip|swipe|online), device_id",
        "(pos = card present, merchant = merchant-initiated bill), is_fraud (label, with noise), scenario",
        f"(one of {', '.join(SCENARIOS)}; the true tag, without label noise).",
        "schema.yaml: the column mapping for latte_vt.data.transactions (load_events).",
        "",
        f"config: {asdict(cfg)}",
        f"events: {frame.height}, labelled fraud: {int(frame['is_fraud'].sum())} ({frame['is_fraud'].mean():.3%})",
        "events per scenario: " + ", ".join(f"{s}={c}" for s, c in counts.iter_rows()),
    ]
    return "\n".join(lines) + "\n"


def write_transactions(out_dir: str | Path, cfg: TransactionSynthConfig, fmt: str = "parquet") -> Path:
    """Generate and write ``events.{parquet,csv}``, ``schema.yaml`` and ``README.txt``; returns the events path."""
    import yaml
    from tqdm import tqdm

    if fmt not in ("parquet", "csv"):
        raise InputError(f"format must be parquet or csv, got {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tqdm(total=3, desc="transactions-synthetic", unit="step", file=sys.stderr) as bar:
        cols = generate_transactions(cfg)
        bar.update()
        frame = to_frame(cols, cfg.start)
        bar.update()
        path = out / f"events.{fmt}"
        if fmt == "parquet":
            frame.write_parquet(path)
        else:
            frame.write_csv(path)
        bar.update()
    (out / "schema.yaml").write_text(yaml.safe_dump(SCHEMA, sort_keys=False))
    (out / "README.txt").write_text(_readme(cfg, frame, path.name))
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = TransactionSynthConfig()
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--accounts", type=int, default=defaults.accounts, help="number of accounts")
    parser.add_argument("--days", type=int, default=defaults.days, help="days of history")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="random seed")
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet", help="file format")
    parser.add_argument("--fraud-rate", type=float, default=defaults.fraud_rate, help="target share of fraud events")


def run(args: argparse.Namespace) -> int:
    cfg = TransactionSynthConfig(accounts=args.accounts, days=args.days, seed=args.seed, fraud_rate=args.fraud_rate)
    try:
        began = time.perf_counter()
        path = write_transactions(args.out, cfg, args.format)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path} in {time.perf_counter() - began:.1f} s")
    print((path.parent / "README.txt").read_text().splitlines()[-2])
    return 0
