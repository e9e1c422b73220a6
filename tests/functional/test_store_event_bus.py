"""The event bus's rows on SQLite and PostgreSQL: rules, targets, buses, their limits."""

from __future__ import annotations

import sqlalchemy as sa

from lambdad.store import BusRow, EventBusStore, RuleRow, TargetRow


def rule(name: str, bus: str = "default", region: str = "us-east-1", **fields: object) -> RuleRow:
    values: dict[str, object] = {
        "event_pattern": '{"source": ["a"]}',
        "schedule_expression": None,
        "state": "ENABLED",
        "description": None,
        "role_arn": None,
        "created_at": 1.0,
        **fields,
    }
    return RuleRow(region=region, event_bus=bus, name=name, **values)  # type: ignore[arg-type]


def target(rule_name: str, target_id: str, bus: str = "default", at: float = 1.0) -> TargetRow:
    arn = f"arn:aws:lambda:us-east-1:000000000000:function:{target_id}"
    return TargetRow("us-east-1", bus, rule_name, target_id, arn, {}, at)


def test_put_rule_keeps_its_creation_time_and_counts_new_rules(engine: sa.Engine) -> None:
    store = EventBusStore(engine)
    assert store.put_rule(rule("a"), most=2) == rule("a")
    replaced = store.put_rule(rule("a", created_at=9.0, state="DISABLED"), most=2)
    assert replaced == rule("a", state="DISABLED")
    assert store.put_rule(rule("b"), most=2) is not None
    assert store.put_rule(rule("c"), most=2) is None  # a third rule on the bus
    assert store.put_rule(rule("b", description="still"), most=2) is not None  # updates are
    assert store.put_rule(rule("c", bus="other"), most=2) is not None  # per bus
    assert store.put_rule(rule("c", region="eu-west-1"), most=2) is not None  # and region


def test_prefixes_are_case_sensitive_and_pages_follow_names(engine: sa.Engine) -> None:
    store = EventBusStore(engine)
    for name in ("ab_1", "ab_2", "AB_3", "abc", "xab"):
        store.put_rule(rule(name), most=100)
    names = [r.name for r in store.list_rules("us-east-1", "default", "ab", None, 10)]
    assert names == ["ab_1", "ab_2", "abc"]
    after = store.list_rules("us-east-1", "default", "ab", "ab_1", 1)
    assert [r.name for r in after] == ["ab_2"]


def test_targets_keep_their_place_and_go_with_their_rule(engine: sa.Engine) -> None:
    store = EventBusStore(engine)
    store.put_rule(rule("r"), most=10)
    store.put_targets([target("r", "b", at=1.0), target("r", "a", at=2.0)])
    store.put_targets([target("r", "b", at=3.0)])  # replaced in place
    assert [t.target_id for t in store.list_targets("us-east-1", "default", "r")] == ["b", "a"]
    assert not store.delete_rule("us-east-1", "default", "r", force=False)
    store.remove_targets("us-east-1", "default", "r", ["b"])
    assert store.count_targets("us-east-1", "default", "r") == 1
    assert store.delete_rule("us-east-1", "default", "r", force=True)
    assert store.count_targets("us-east-1", "default", "r") == 0
    assert store.get_rule("us-east-1", "default", "r") is None


def test_a_bus_goes_with_its_rules_and_targets(engine: sa.Engine) -> None:
    store = EventBusStore(engine)
    assert store.create_bus(BusRow("us-east-1", "team", None, 1.0, 1.0))
    assert not store.create_bus(BusRow("us-east-1", "team", "again", 2.0, 2.0))
    store.put_rule(rule("r", bus="team"), most=10)
    store.put_targets([target("r", "t", bus="team")])
    store.put_rule(rule("r"), most=10)  # the same name on the default bus stays
    assert [r.name for r, _ in store.enabled_rules("us-east-1", "team")] == ["r"]
    store.delete_bus("us-east-1", "team")
    assert store.get_bus("us-east-1", "team") is None
    assert store.get_rule("us-east-1", "team", "r") is None
    assert store.count_targets("us-east-1", "team", "r") == 0
    assert store.get_rule("us-east-1", "default", "r") is not None
    assert store.count_buses("us-east-1") == 0


def test_enabled_rules_leave_out_disabled_and_scheduled_ones(engine: sa.Engine) -> None:
    store = EventBusStore(engine)
    store.put_rule(rule("on"), most=10)
    store.put_rule(rule("off", state="DISABLED"), most=10)
    store.put_rule(rule("tick", event_pattern=None, schedule_expression="rate(1 minute)"), most=10)
    store.put_targets([target("on", "t1"), target("off", "t2")])
    found = store.enabled_rules("us-east-1", "default")
    assert [(r.name, [t.target_id for t in ts]) for r, ts in found] == [("on", ["t1"])]
