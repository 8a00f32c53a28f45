"""The bottom layer of the pipeline: the one rounding rule, the pins, and the last-digit tolerance
between CPUs."""

import numpy as np
import pytest

from build_scripts.pipeline.artifacts import equivalent, pins, rounded, versions


def test_rounding_makes_plain_stable_json():
    assert rounded({"a": np.float32(0.123456), "b": float("nan"), "c": -0.0, "d": np.int32(3), 4: (1.00004, "x")},
                   4) == {"a": 0.1235, "b": None, "c": 0.0, "d": 3, "4": [1.0, "x"]}
    assert rounded(np.array([[-1e-9, 0.5]]), 3) == [[0.0, 0.5]]  # no "-0.0" from a tiny negative
    with pytest.raises(TypeError, match="cannot write object"):
        rounded(object(), 2)


def test_versions_are_the_pins_of_pyproject():
    table = pins()
    assert table["jax"] == versions("jax")["jax"] and table["vl-convert-python"]
    with pytest.raises(KeyError, match="no exact pin"):
        versions("not-a-dependency")


# --- equivalence: the tolerance itself --------------------------------------------------------


@pytest.mark.parametrize("old,new,same", [
    (b'{"w":[0.123,0.5]}', b'{"w":[0.124,0.5]}', True),      # one unit in the 3rd decimal
    (b'{"w":[0.123,0.5]}', b'{"w":[0.125,0.5]}', False),     # two units
    (b'{"w":0.12}', b'{"w":0.121}', True),                    # 0.120 written as 0.12
    (b'{"w":1.0}', b'{"w":0.999}', True),
    (b'{"w":1.5e-05}', b'{"w":1.6e-05}', True),
    (b'{"w":1.5e-05}', b'{"w":1.7e-05}', False),
    (b'{"layer":5}', b'{"layer":6}', False),                  # integers are indices: exact
    (b'{"word":"cat","w":0.1}', b'{"word":"mat","w":0.1}', False),
    (b'{"w":[0.1,0.2]}', b'{"w":[0.1,0.2,0.3]}', False),
    (b'<path d="M1.5,2"/>', b'<path d="M1.6,2"/>', True),
    (b'fill="rgb(19, 75, 133)"', b'fill="rgb(19, 76, 132)"', True),  # colour channels: rounded values
    (b'fill="rgb(19, 75, 133)"', b'fill="rgb(19, 77, 133)"', False),
    (b'<g id="c19"><rect width="4"/>', b'<g id="c19"><rect width="5"/>', False),
    (b"\xff\x00", b"\xff\x01", False),                       # not text: bytes must match
])
def test_equivalent(old, new, same):
    assert equivalent(old, new) is same
    assert equivalent(new, old) is same


