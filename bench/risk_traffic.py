"""Labelled synthetic payments for the risk scorer: normal customers plus injected fraud.

Normal: ``customers`` vaulted customers, each with a usual amount (log-normal, ~$5-$900),
paying a few times a day at random hours over ``days`` days; some declines (and a retry),
some refunds, AVS sometimes only a zip match. Injected, each labelled with its pattern:

- ``card_testing``: a fresh card (no vault id) tried 12-25 times within minutes for under $5,
  mostly declined, CSC and AVS often not matching;
- ``velocity_burst``: an established customer's card used 5-9 times within ~3 minutes;
- ``amount_outlier``: an established customer paying 8-30x their usual amount;
- ``account_takeover``: an established customer's vaulted card used at night 2-4 times in
  minutes for 4-10x the usual amount, with a new billing address (AVS and CSC not matching).

Every injected payment is a positive; deterministic for a seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from schemas.payment import Payment, PaymentStatus, PaymentType

START = datetime(2026, 3, 2, tzinfo=UTC)
PATTERNS = ("card_testing", "velocity_burst", "amount_outlier", "account_takeover")


@dataclass(frozen=True)
class Labelled:
    payment: Payment
    pattern: str | None  # None: normal traffic

    @property
    def fraud(self) -> bool:
        return self.pattern is not None


@dataclass
class _Customer:
    vault_id: str
    usual: float
    last_four: str


class _Maker:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.next_id = 5_000_000

    def payment(
        self,
        at: datetime,
        amount: float,
        *,
        vault: str | None,
        last_four: str,
        declined: bool = False,
        kind: PaymentType = PaymentType.SALE,
        avs: str = "Full Exact Match",
        csc: str = "Match",
        billing_key: str | None = None,
    ) -> Payment:
        self.next_id += 1
        status = PaymentStatus.DECLINED if declined else PaymentStatus.APPROVED
        if kind is PaymentType.REFUND:
            status = PaymentStatus.REFUNDED
        elif kind is PaymentType.AUTHORIZATION and not declined:
            status = PaymentStatus.AUTHORIZED
        return Payment(
            transaction_id=str(self.next_id),
            type=kind,
            status=status,
            amount=Decimal(f"{max(amount, 0.01):.2f}"),
            currency="USD",
            occurred_at=at,
            card_type="VISA",
            last_four=last_four,
            customer_vault_id=vault,
            avs_response=avs,
            csc_response=csc,
            local_hour=(at - timedelta(hours=7)).hour,  # a merchant on Pacific time
            billing_key=billing_key,
        )


def generate(
    customers: int = 300, days: int = 3, incidents: int = 12, seed: int = 7
) -> list[Labelled]:
    """Payments in time order, each labelled; ``incidents`` of each injected pattern."""
    rng = random.Random(seed)
    make = _Maker(rng)
    people = [
        _Customer(
            f"cust-{i:05d}", round(rng.lognormvariate(3.8, 1.0), 2), f"{rng.randrange(10_000):04d}"
        )
        for i in range(customers)
    ]
    out: list[tuple[datetime, Labelled]] = []
    span = days * 86_400

    def add(payment: Payment, pattern: str | None = None) -> None:
        out.append((payment.occurred_at, Labelled(payment, pattern)))

    for person in people:
        for _ in range(rng.randint(2 * days - 2, 3 * days)):
            # daytime mostly: 7 am to 11 pm Pacific
            day = rng.randrange(days)
            at = START + timedelta(days=day, hours=14 + rng.uniform(0, 16))
            amount = person.usual * rng.uniform(0.6, 1.5)
            declined = rng.random() < 0.04
            avs = "Zip Match Only" if rng.random() < 0.05 else "Full Exact Match"
            add(
                make.payment(
                    at,
                    amount,
                    vault=person.vault_id,
                    last_four=person.last_four,
                    declined=declined,
                    avs=avs,
                )
            )
            if declined and rng.random() < 0.6:  # the customer tries again
                add(
                    make.payment(
                        at + timedelta(seconds=rng.uniform(20, 90)),
                        amount,
                        vault=person.vault_id,
                        last_four=person.last_four,
                    )
                )
            elif rng.random() < 0.04:  # a refund a few hours later
                add(
                    make.payment(
                        at + timedelta(hours=rng.uniform(1, 8)),
                        amount,
                        vault=person.vault_id,
                        last_four=person.last_four,
                        kind=PaymentType.REFUND,
                    )
                )

    def when(hours: float = 30.0) -> datetime:
        # after a day of history, so established customers have one
        return START + timedelta(seconds=rng.uniform(hours * 3600, span - 3600))

    for n in range(incidents):
        at = when()
        key = f"{rng.getrandbits(64):016x}"
        four = f"{rng.randrange(10_000):04d}"
        for _ in range(rng.randint(12, 25)):
            at += timedelta(seconds=rng.uniform(3, 30))
            add(
                make.payment(
                    at,
                    rng.uniform(0.5, 4.99),
                    vault=None,
                    last_four=four,
                    billing_key=key,
                    declined=rng.random() < 0.75,
                    kind=PaymentType.AUTHORIZATION if rng.random() < 0.3 else PaymentType.SALE,
                    avs="No Match" if rng.random() < 0.5 else "Full Exact Match",
                    csc="No Match" if rng.random() < 0.5 else "Match",
                ),
                "card_testing",
            )
        victim = people[rng.randrange(customers)]
        at = when()
        for _ in range(rng.randint(5, 9)):
            at += timedelta(seconds=rng.uniform(5, 25))
            add(
                make.payment(
                    at,
                    victim.usual * rng.uniform(0.8, 2.0),
                    vault=victim.vault_id,
                    last_four=victim.last_four,
                ),
                "velocity_burst",
            )
        victim = people[(n * 7 + 3) % customers]
        add(
            make.payment(
                when(),
                victim.usual * rng.uniform(8, 30),
                vault=victim.vault_id,
                last_four=victim.last_four,
            ),
            "amount_outlier",
        )
        victim = people[(n * 11 + 5) % customers]
        at = START + timedelta(days=1 + rng.randrange(days - 1), hours=9 + rng.uniform(0, 3))
        for _ in range(rng.randint(2, 4)):
            at += timedelta(seconds=rng.uniform(30, 240))
            add(
                make.payment(
                    at,
                    victim.usual * rng.uniform(4, 10),
                    vault=victim.vault_id,
                    last_four=victim.last_four,
                    avs="No Match",
                    csc="No Match",
                ),
                "account_takeover",
            )
    out.sort(key=lambda pair: pair[0])
    return [labelled for _, labelled in out]
