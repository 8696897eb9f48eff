"""What the consumer holds for ``patient_latest`` between flushes (``_newest``): the newest
value of every vital and observation, in as few readings as carry them (issue 22)."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from vitals.consumer.records import _newest
from vitals.readings import VITALS, Reading

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
FIELDS = (*VITALS, "consciousness", "on_oxygen")


def at(seconds: int, **values: object) -> tuple:
    return (Reading("P1", T0 + timedelta(seconds=seconds), **values), None, None)  # type: ignore[arg-type]


def newest_values(items: list[tuple]) -> dict[str, tuple[datetime, object]]:
    """Field -> (time, value) of the newest reading carrying it: what last-write-wins by
    the reading's time leaves in ``patient_latest``."""
    out: dict[str, tuple[datetime, object]] = {}
    for r, _, _ in items:
        for f in FIELDS:
            v = getattr(r, f)
            if v is not None and (f not in out or r.timestamp > out[f][0]):
                out[f] = (r.timestamp, v)
    return out


def test_a_nurses_acvpu_entry_is_kept_though_later_heart_rates_cover_its_heart_rate() -> None:
    entry = at(0, heart_rate=80, consciousness="V", on_oxygen=True)
    later = [at(s, heart_rate=82 + s) for s in range(1, 4)]
    kept = _newest([entry, *later])
    assert entry in kept and later[-1] in kept and len(kept) == 2


def test_complete_readings_keep_only_the_newest() -> None:
    full = [
        at(
            s,
            heart_rate=80 + s,
            spo2=97,
            systolic=120,
            diastolic=75,
            respiratory_rate=16,
            temperature=37.0,
            consciousness="A",
            on_oxygen=False,
        )
        for s in range(5)
    ]
    assert _newest(full) == [full[-1]]


vital_values = st.fixed_dictionaries(
    {},
    optional={
        "heart_rate": st.integers(30, 200),
        "spo2": st.integers(70, 100),
        "respiratory_rate": st.integers(5, 40),
        "temperature": st.sampled_from([35.5, 37.0, 39.5]),
        "consciousness": st.sampled_from(["A", "C", "V", "P", "U"]),
        "on_oxygen": st.booleans(),
    },
)


@given(
    st.lists(
        st.tuples(st.integers(0, 600), vital_values),
        min_size=1,
        max_size=30,
        unique_by=lambda t: t[0],  # one reading per second: a tie's winner is unspecified
    )
)
def test_what_is_held_leaves_every_newest_value_and_is_at_most_one_per_field(readings) -> None:
    items = [at(s, **v) for s, v in readings if v]
    if not items:
        return
    kept = _newest(items)
    assert newest_values(kept) == newest_values(items)
    assert len(kept) <= len(FIELDS)
