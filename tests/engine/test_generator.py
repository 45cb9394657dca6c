"""engine.Generator: seeding, state round trips and generator= on the random factories."""

import numpy as np
import pytest

import engine


def test_fresh_generator_has_pytorchs_default_seed():
    assert engine.Generator().initial_seed() == 67280421310721
    g = engine.Generator()
    assert g.manual_seed(5) is g
    assert g.initial_seed() == 5
    assert g.device == "cpu" and repr(g.device) == "device(type='cpu')"


def test_same_seed_same_stream_and_independent_of_global():
    a, b = engine.Generator().manual_seed(3), engine.Generator().manual_seed(3)
    engine.manual_seed(0)
    x = engine.randn(4, generator=a)
    engine.randn(10)  # draws from the global generator do not move a or b
    y = engine.randn(4, generator=b)
    np.testing.assert_array_equal(x.numpy(), y.numpy())
    assert x.dtype == engine.float32


def test_generator_on_every_factory():
    for make in (lambda g: engine.rand(3, generator=g),
                 lambda g: engine.randint(0, 100, (5,), generator=g),
                 lambda g: engine.randperm(7, generator=g)):
        first = make(engine.Generator().manual_seed(11)).numpy()
        again = make(engine.Generator().manual_seed(11)).numpy()
        other = make(engine.Generator().manual_seed(12)).numpy()
        np.testing.assert_array_equal(first, again)
        assert not np.array_equal(first, other)


def test_get_state_set_state_replays():
    g = engine.Generator().manual_seed(1)
    state = g.get_state()
    assert state.dtype == engine.uint8 and state.ndim == 1
    first = engine.rand(5, generator=g).numpy()
    g.set_state(state)
    np.testing.assert_array_equal(engine.rand(5, generator=g).numpy(), first)


def test_set_state_refuses_a_float_tensor():
    with pytest.raises(TypeError, match="ByteTensor"):
        engine.Generator().set_state(engine.zeros(3))


def test_seed_returns_the_seed_used():
    g = engine.Generator()
    s = g.seed()
    assert g.initial_seed() == s
    assert engine.manual_seed(9) is engine.default_generator
    assert engine.initial_seed() == 9


def test_wrong_generator_type():
    with pytest.raises(TypeError, match="engine.Generator"):
        engine.rand(2, generator=np.random.default_rng(0))
