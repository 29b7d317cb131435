"""The executor (autograder/wire/executor.py), the only code that touches a student's objects.

Whatever the student's code raises at any step becomes ``Result.error`` naming that step, and the
call never raises, except for ``KeyboardInterrupt`` and ``SystemExit``, which always go through
(an interrupted grading must stop; ``sys.exit`` in student code is not an answer). Each student
object below is real code that fails at one step.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from autograder.wire.executor import execute
from autograder.wire.protocol import Call


class Good(nn.Module):
    def __init__(self, channels=4):
        super().__init__()
        self.fc = nn.Linear(channels, channels)

    def forward(self, z):
        return self.fc(z)


def _raiser(exc):
    def raise_it(*args, **kwargs):
        raise exc
    return raise_it


def student(step: str, exc: BaseException):
    """A module class that raises ``exc`` at ``step`` of a call, and only there."""

    class Student(Good):
        def __init__(self, channels=4):
            super().__init__(channels)
            if step == "init":
                raise exc

        def _apply(self, fn, *args, **kwargs):       # .to(dtype) and .to(device) go through it
            if step == "move":
                raise exc
            return super()._apply(fn, *args, **kwargs)

        def named_parameters(self, *args, **kwargs):
            if step == "inspect":
                raise exc
            return super().named_parameters(*args, **kwargs)

        def __getattr__(self, name):                 # only for names nn.Module does not know
            if name == "gate" and step == "lookup":
                raise exc
            return super().__getattr__(name)

        def forward(self, z):
            if step == "call":
                raise exc
            if step == "then" and not torch.is_grad_enabled():
                raise exc                            # later calls run under no_grad
            if step == "output":
                return {"not": "a tensor"} if isinstance(exc, TypeError) else _Odd(exc)
            out = super().forward(z)
            return _Backward.apply(out, exc) if step == "backward" else out

    return Student


class _Odd:
    """An output of the student's own type that raises when the executor asks what it is."""

    def __init__(self, exc):
        self.exc = exc

    @property
    def __class__(self):
        raise self.exc


class _Backward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, exc):
        ctx.exc = exc
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        raise ctx.exc


def _call(step: str, **extra) -> Call:
    z = torch.randn(3, 4)
    fields = dict(name="Student", init=((4,), {}), args=[z])
    if step == "move":
        fields["dtype"] = "float64"
    if step == "load":
        fields["state"] = {"fc.weight": torch.zeros(2, 4)}
    if step == "inspect":
        fields["introspect"] = True
    if step == "lookup":
        fields["path"] = "gate"
    if step == "then":
        fields["then"] = [[torch.randn(3, 4)]]
    if step == "backward":
        fields["grad"] = [torch.ones(3, 4)]
    fields.update(extra)
    return Call(**fields)


#: each step, and the stage its failure is reported under
STAGES = {"init": "init", "move": "move", "load": "load", "inspect": "inspect",
          "lookup": "lookup", "call": "call", "then": "call", "backward": "backward"}


@pytest.mark.parametrize("step", STAGES)
def test_an_error_at_each_step_is_reported_with_its_stage(step):
    res = execute({"Student": student(step, ValueError(f"<{step}>"))}, _call(step))
    if step == "load":      # the wrong weights are the grader's: the student's code is fine
        assert res.error["stage"] == "load" and res.error["type"] == "RuntimeError"
        return
    assert res.error == {"stage": STAGES[step], "type": "ValueError", "message": f"<{step}>"}


def test_an_output_that_is_not_a_tensor_is_an_output_error():
    res = execute({"Student": student("output", TypeError())}, _call("output"))
    assert res.error["stage"] == "output" and res.error["type"] == "TypeError"
    assert "returned a dict" in res.error["message"]


def test_what_the_steps_before_a_failure_reported_is_kept():
    res = execute({"Student": student("then", ValueError("late"))}, _call("then"))
    assert res.error["stage"] == "call"
    assert res.meta == [[[3, 4], "float32", "cpu"]]      # the first call's output was described


def test_a_correct_module_answers_every_step():
    res = execute({"Student": student("none", ValueError())},
                  _call("backward", introspect=True, then=[[torch.randn(3, 4)]], repeat=2,
                        grad=[torch.ones(3, 4)]))
    assert res.ok, res.error
    assert set(res.params) == {"fc.weight", "fc.bias"} and res.deterministic is True
    assert res.input_grads[0].shape == (3, 4) and res.param_grads["fc.weight"].shape == (4, 4)
    assert len(res.then_outputs) == 1 and res.out.shape == (3, 4)


@pytest.mark.parametrize("kind", [KeyboardInterrupt, SystemExit])
@pytest.mark.parametrize("step", ["init", "move", "inspect", "lookup", "call", "then", "output",
                                  "backward"])
def test_keyboard_interrupt_and_system_exit_go_through_at_every_step(step, kind):
    with pytest.raises(kind):
        execute({"Student": student(step, kind())}, _call(step))


def test_a_missing_name_is_a_lookup_error():
    res = execute({}, Call(name="Excitation", args=None))
    assert res.error == {"stage": "lookup", "type": "NameError",
                         "message": "Excitation is not defined"}


def test_a_long_message_is_cut():
    res = execute({"Student": student("call", ValueError("x" * 5000))}, _call("call"))
    assert len(res.error["message"]) < 700 and res.error["message"].endswith(" ...")
