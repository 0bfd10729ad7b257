"""Property: whatever members and operators do, in any order, over any days, no point is lost or minted.

A Hypothesis state machine drives the real use cases (grants, deductions, redemptions, cancels,
refunds, expiry settlements, days passing) against the real database, next to a small model of
what each account must hold (its lots, oldest first). After every step: each balance equals the
model, the sum of its ledger entries and the sum of its open lots, and is never negative; stock
plus sold is what the product started with.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import delete, func, select

from wedraw.core.db import utcnow
from wedraw.core.errors import ApiError
from wedraw.points_mall import ledger, orders, services, settlement
from wedraw.points_mall.models import LedgerEntry, PointsAccount, PointsLot, Product, db
from wedraw.points_mall.rules import expiry_cutoff, get_rules, local_day, update_rules

EXPIRY_DAYS = 2
ACCOUNTS = 3
PRODUCTS = ((30, 5), (70, 3))  # (price, stock)

pytestmark = pytest.mark.slow


def _wipe() -> None:
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(delete(table))
    db.session.commit()


class LedgerMachine(RuleBasedStateMachine):
    app = None  # set by the test

    def __init__(self):
        super().__init__()
        self.ctx = self.app.app_context()
        self.ctx.push()
        _wipe()
        self.offset = timedelta(0)
        self.base = utcnow()
        ledger.clock = lambda: self.base + self.offset
        update_rules({"expiry": {"enabled": True, "days": EXPIRY_DAYS}}, "hypothesis")
        self.keys = [f"unionid:prop-{uuid.uuid4().hex[:12]}" for _ in range(ACCOUNTS)]
        self.ids = [services.ensure_account(key).id for key in self.keys]
        self.lots: dict[int, list[list]] = {i: [] for i in self.ids}  # account -> [[lot id, earned, remaining]]
        self.orders: dict[int, dict] = {}  # order id -> {account, uses: [(lot id, amount)], state}
        self.products = []
        for price, stock in PRODUCTS:
            product = Product(name=f"p{price}", points_price=price, stock=stock, on_shelf=True, needs_address=False)
            db.session.add(product)
            db.session.commit()
            self.products.append((product.id, price, stock))
        self.expected_day = None

    def teardown(self):
        ledger.clock = utcnow
        db.session.remove()
        self.ctx.pop()

    # ------------------------------------------------------------ the model

    def _balance(self, account_id: int) -> int:
        return sum(lot[2] for lot in self.lots[account_id])

    def _model_credit(self, account_id: int) -> None:
        lot_id = db.session.execute(
            select(func.max(PointsLot.id)).where(PointsLot.account_id == account_id)
        ).scalar_one()
        self.lots[account_id].append([lot_id, ledger.now(), db.session.get(PointsLot, lot_id).amount])

    def _model_take(self, account_id: int, amount: int) -> list:
        uses = []
        for lot in self.lots[account_id]:
            if amount == 0:
                break
            take = min(lot[2], amount)
            if take:
                lot[2] -= take
                amount -= take
                uses.append((lot[0], take))
        assert amount == 0
        return uses

    # ------------------------------------------------------------ rules

    @rule(who=st.integers(0, ACCOUNTS - 1), amount=st.integers(1, 120))
    def earn(self, who, amount):
        services.adjust(self.ids[who], "grant", amount, "property test", None)
        self._model_credit(self.ids[who])

    @rule(who=st.integers(0, ACCOUNTS - 1), amount=st.integers(1, 150))
    def deduct(self, who, amount):
        account_id = self.ids[who]
        try:
            services.adjust(account_id, "deduct", amount, "property test", None)
        except ApiError as exc:
            assert exc.error_code == "insufficient_points" and self._balance(account_id) < amount
            return
        self._model_take(account_id, amount)

    @rule(who=st.integers(0, ACCOUNTS - 1), which=st.integers(0, len(PRODUCTS) - 1), quantity=st.integers(1, 3))
    def redeem(self, who, which, quantity):
        account_id = self.ids[who]
        product_id, price, _stock = self.products[which]
        claims = {"sub": str(who + 1), "mkey": self.keys[who]}
        balance_before = self._balance(account_id)
        try:
            order, created = orders.redeem(claims, uuid.uuid4().hex, {"product_id": product_id, "quantity": quantity})
        except ApiError as exc:
            assert exc.error_code in ("insufficient_points", "insufficient_stock"), exc.error_code
            if exc.error_code == "insufficient_points":
                assert balance_before < price * quantity
            return
        assert created and balance_before >= price * quantity
        self.orders[order.id] = {"account": account_id, "uses": self._model_take(account_id, price * quantity)}

    def _give_back(self, order_id: int) -> None:
        account_id = self.orders[order_id]["account"]
        for lot_id, amount in self.orders.pop(order_id)["uses"]:
            next(lot for lot in self.lots[account_id] if lot[0] == lot_id)[2] += amount

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def cancel(self, data):
        order_id = data.draw(st.sampled_from(sorted(self.orders)))
        orders.cancel(order_id, "property test", "hypothesis")
        self._give_back(order_id)
        with pytest.raises(ApiError):  # a second time changes nothing
            orders.cancel(order_id, "again", "hypothesis")

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def ship_and_refund(self, data):
        order_id = data.draw(st.sampled_from(sorted(self.orders)))
        orders.ship(order_id, "EMS", "EMS000001", "hypothesis")
        orders.refund(order_id, "property test", "hypothesis")
        self._give_back(order_id)
        with pytest.raises(ApiError):
            orders.refund(order_id, "again", "hypothesis")

    @rule(days=st.integers(0, 3), hours=st.integers(0, 23))
    def time_passes(self, days, hours):
        self.offset += timedelta(days=days, hours=hours)

    @rule()
    def settle_expiry(self):
        rules = get_rules()
        day = local_day(rules, ledger.now())
        result = settlement.run_expiry(day)
        cutoff = expiry_cutoff(rules, day)
        if result["status"] == "already done":
            return
        expired = 0
        for lots in self.lots.values():
            for lot in lots:
                if lot[1] < cutoff:
                    expired += lot[2]
                    lot[2] = 0
        assert result["points"] == expired

    # ------------------------------------------------------------ invariants

    @invariant()
    def books_balance(self):
        db.session.rollback()
        for account_id in self.ids:
            balance = db.session.get(PointsAccount, account_id).balance
            entries = db.session.execute(
                select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(LedgerEntry.account_id == account_id)
            ).scalar_one()
            lots = db.session.execute(
                select(func.coalesce(func.sum(PointsLot.remaining), 0)).where(PointsLot.account_id == account_id)
            ).scalar_one()
            assert balance >= 0
            assert balance == entries == lots == self._balance(account_id), (account_id, balance, entries, lots)

    @invariant()
    def stock_is_conserved(self):
        for product_id, _price, stock in self.products:
            product = db.session.get(Product, product_id)
            assert product.stock >= 0 and product.stock + product.sold == stock
        db.session.rollback()


def test_no_point_is_lost_or_minted(apps):
    LedgerMachine.app = apps["points_mall"]
    machine = LedgerMachine.TestCase
    machine.settings = settings(
        max_examples=12,
        stateful_step_count=25,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    machine().runTest()
