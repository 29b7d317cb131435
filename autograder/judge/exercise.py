"""Exercises and their four check families: shape, values, gradient, device.

An :class:`Exercise` says what the student defines (a function or an ``nn.Module`` class), how to
build the reference for a case, which cases each family tries and which mistakes to recognise. The
families are written once, here, for every exercise; an exercise changes them only through its
cases, its oracle (:meth:`Exercise.oracle`), its weight draw and its mistakes.

Each family raises :class:`~autograder.judge.verdict.CheckFailed` with a hint on the first failure, and
returns a one-line summary when everything passed.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
from torch import nn

from ..wire.executor import _resolve
from ..wire.protocol import Call, Result
from .context import (PUBLIC_SEED, TOLERANCES, Context, RemoteError, RemoteFunction, close,
                      default_seed, fmt_shape, max_error)
from .hints import Mistake, dtype_mismatch, explain_error, recognise, shape_mismatch
from .verdict import FAMILIES, CheckFailed, Outcome


@dataclass(frozen=True)
class Case:
    """One configuration tried by a check.

    Attributes:
        init: constructor ``(args, kwargs)`` for a module exercise, ``None`` for a function.
        inputs: shapes of the tensor inputs.
        path: the method to call (``""`` for ``forward`` / the function itself, ``"gate"``).
        label: how the case is described in messages (``"C=8 < reduction=16"``).
    """

    init: tuple[tuple, dict] | None = None
    inputs: tuple[tuple[int, ...], ...] = ()
    path: str = ""
    label: str = ""

    def describe(self, name: str) -> str:
        call = name
        if self.init is not None:
            args, kwargs = self.init
            parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
            call = f"{name}({', '.join(parts)})"
        method = f".{self.path}" if self.path else ""
        shapes = ", ".join(fmt_shape(s) for s in self.inputs)
        extra = f" [{self.label}]" if self.label else ""
        return f"{call}{method} on input {shapes}{extra}"


@dataclass
class Probe:
    """One draw: a case, inputs, the reference with drawn weights, and a way to call sub-parts.

    ``ref`` is the reference object (a module with the drawn weights as its parameters, or a
    function); ``inputs`` are the tensors given to both. For module exercises, ``params`` are the
    reference's parameters: the weights sent to the student are copies of them, so gradients of
    an oracle with respect to ``params`` are the expected parameter gradients.
    """

    exercise: "Exercise"
    ctx: Context
    case: Case
    dtype: torch.dtype
    ref: Any
    inputs: list[torch.Tensor]
    params: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def state(self) -> dict[str, torch.Tensor] | None:
        if not isinstance(self.ref, nn.Module):
            return None
        return {k: v.detach().clone() for k, v in self.ref.state_dict().items()}

    @property
    def x(self) -> torch.Tensor:
        return self.inputs[0]

    def call(self, **overrides) -> Call:
        """The call that runs the student's version of this probe."""
        fields = dict(name=self.ctx.name, init=self.case.init, state=self.state,
                      path=self.case.path, args=[t.detach() for t in self.inputs],
                      dtype=_dtype_name(self.dtype) if self.case.init is not None else None)
        fields.update(overrides)
        return Call(**fields)

    def remote(self, path: str, *args: torch.Tensor):
        """The student's sub-part ``path`` (e.g. ``"excitation"``) applied to ``args``, as a
        differentiable function of ``args`` and of :attr:`params` (for composite oracles)."""
        names = list(self.params)
        template = Call(name=self.ctx.name, init=self.case.init, path=path,
                        dtype=_dtype_name(self.dtype),
                        state={k: v for k, v in self.state.items() if k not in self.params})
        return RemoteFunction(self.ctx, template, names)(*args, *self.params.values())


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


class Exercise:
    """Base class of the exercises; subclasses fill in the class attributes and hooks.

    Class attributes:
        id: the nbgrader ``grade_id`` of the solution cell (``"excitation"``).
        name: the name the cell defines (``"Excitation"``).
        signature: how to call it, for messages (``"Excitation(channels, reduction=16)"``).
        kind: ``"module"`` or ``"function"``.
        families: the graded families of this exercise.
        shape_cases, value_cases: the cases of those families.
        grad_cases: the cases of the gradient family (default: the first value case).
        device_case: the case of the device family (default: the first value case).
        mistakes: typical mistakes to recognise in wrong outputs.

    ``check("basic", ...)`` is the visible check: every family on the public seed
    (:data:`~.context.PUBLIC_SEED`), one :class:`Outcome` holding each family's.
    """

    id: str = ""
    name: str = ""
    signature: str = ""
    title: str = ""
    kind: str = "module"
    families: tuple[str, ...] = FAMILIES
    shape_cases: Sequence[Case] = ()
    value_cases: Sequence[Case] = ()
    grad_cases: Sequence[Case] = ()
    device_case: Case | None = None
    #: ``(regex, hint)`` pairs for this exercise's typical exceptions, tried before the generic
    #: ones of :mod:`autograder.judge.hints`
    error_hints: Sequence[tuple[str, str]] = ()
    mistakes: Sequence[Mistake] = ()
    #: state_dict keys whose gradient must not be zero when the output depends on them
    live_params: Sequence[str] = ()
    #: the values family also runs its first case with inputs this many times larger (an
    #: overflow check); 0 turns it off
    large_input_scale: float = 100.0

    # --- hooks --------------------------------------------------------------------------------
    def reference_qualnames(self) -> set[str]:
        """``module.qualname`` of the reference object that IS the answer (an answer made of it,
        by import, alias, subclass or wrapping, earns nothing in isolated grading)."""
        case = (list(self.value_cases) or list(self.shape_cases) or [None])[0]
        if case is None:
            return set()
        ref = self.reference(case)
        obj = ref if case.init is None else type(ref)
        return {f"{obj.__module__}.{obj.__qualname__}"}

    def reference(self, case: Case):
        """The reference object for a case: a fresh ``scse_ref`` module, or a function."""
        raise NotImplementedError

    def make_inputs(self, ctx: Context, case: Case, dtype: torch.dtype) -> list[torch.Tensor]:
        """Random inputs for a case; by default standard normal plus a per-channel offset, so
        that channel statistics differ between samples and channels."""
        out = []
        for shape in case.inputs:
            x = ctx.randn(*shape, dtype=torch.float64)
            if len(shape) >= 3:
                x = x + ctx.randn(shape[0], shape[1], *(1,) * (len(shape) - 2),
                                  dtype=torch.float64)
            out.append(x.to(dtype))
        return out

    def init_params(self, ctx: Context, ref: nn.Module, inputs: list[torch.Tensor]) -> None:
        """Draw the reference's weights in place. Default: weights of scale 1/sqrt(fan-in) * 1.5
        (larger than PyTorch's default, so that mistakes change the numbers), biases in
        (-0.5, 0.5)."""
        with torch.no_grad():
            for name, p in ref.named_parameters():
                if p.dim() >= 2:
                    fan_in = p[0].numel()
                    p.copy_(ctx.randn(*p.shape, scale=1.5 / math.sqrt(fan_in), dtype=p.dtype))
                else:
                    p.copy_(ctx.uniform(*p.shape, low=-0.5, high=0.5, dtype=p.dtype))

    def oracle(self, probe: Probe):
        """The expected output of a probe, differentiable in ``probe.inputs`` and
        ``probe.params``. Default: the reference itself. Composite exercises override it to use
        the student's own sub-parts, so that a mistake in an earlier exercise does not count
        twice."""
        return _resolve(probe.ref, probe.case.path)(*probe.inputs)

    def diagnose_shape(self, case: Case, got: tuple, expected: tuple) -> str | None:
        """A hint for a wrong output shape, or ``None`` for the generic message."""
        return None

    def extra_checks(self, family: str, ctx: Context) -> list[str]:
        """Exercise-specific checks of a family; raise :class:`CheckFailed`, return notes."""
        return []

    # --- machinery ----------------------------------------------------------------------------
    def probe(self, ctx: Context, case: Case, dtype: torch.dtype,
              grad: bool = False) -> Probe:
        inputs = self.make_inputs(ctx, case, dtype)
        if grad:
            inputs = [t.requires_grad_() if t.is_floating_point() else t for t in inputs]
        if case.init is None:
            return Probe(self, ctx, case, dtype, self.reference(case), inputs)
        ref = self.reference(case).to(dtype)
        self.init_params(ctx, ref, inputs)
        params = dict(ref.named_parameters())
        for p in params.values():
            p.requires_grad_(grad)
        return Probe(self, ctx, case, dtype, ref, inputs, params)

    def explain(self, error: dict) -> str:
        """A hint for an exception of the student's code."""
        return explain_error(error, self.name, self.signature, self.error_hints,
                             "forward" if self.kind == "module" else "the function")

    def fail(self, message: str, mistake: str | None = None) -> None:
        raise CheckFailed(message, mistake)

    def error_failure(self, error: dict, what: str | None = None,
                      mistake: str | None = None) -> CheckFailed:
        """The failed check for an exception of the student's code (a ``Result.error``): its hint
        (:meth:`explain`), then ``(while <what>)`` on a line of its own, and the mistake label
        (by default ``not-implemented``, ``not-defined`` or ``error``). Every family turns an
        error into a failure this way."""
        hint = self.explain(error)
        message = f"{hint}\n  (while {what})" if what else hint
        return CheckFailed(message, mistake or _error_label(error))

    def _result(self, ctx: Context, call: Call, what: str) -> Result:
        res = ctx.run([call])[0]
        if not res.ok:
            raise self.error_failure(res.error, what)
        return res

    def _family(self, family: str) -> Callable[[Context], tuple[str, str | None]]:
        """The method that runs ``family``: ``(summary, where it ran)`` or a raised failure."""
        return {"shape": self._shape, "values": self._values,
                "gradient": self._gradient, "device": self._device}[family]

    def check(self, family: str, subject, seed: int | None = None) -> Outcome:
        """Run one family against a subject and return the verdict (never raises for the
        student's mistakes)."""
        if family not in (*self.families, "basic"):
            raise ValueError(f"{self.id} has no family {family!r}; it has {self.families}")
        if family == "basic":
            return self._public(subject, PUBLIC_SEED if seed is None else seed)
        ctx = Context(subject, self.name, default_seed() if seed is None else seed)
        ran_on = None
        if family == "device":   # where it ran, also when it fails
            from . import device
            ran_on = "gpu" if device.gpu_available() else "simulated"
        try:
            message, ran_on = self._family(family)(ctx)
        except CheckFailed as exc:
            failure = exc
        except RemoteError as exc:   # the student's code raised inside an oracle or gradcheck
            failure = self.error_failure(exc.error, mistake="error")
        else:
            return Outcome(self.id, family, True, message, ran_on)
        return Outcome(self.id, family, False, str(failure), ran_on, failure.mistake)

    # --- basic (the visible check) -----------------------------------------------------------
    def _public(self, subject, seed: int) -> Outcome:
        """Every family of the exercise on one seed (the public one in a notebook): passed when
        all pass; the message holds each failed family's hint; ``details["families"]`` holds
        every family's :class:`Outcome`, in order."""
        outcomes = [self.check(family, subject, seed) for family in self.families]
        failed = [o for o in outcomes if not o.passed]
        message = "\n".join(f"{o.family}: {o.message}" for o in failed) or \
            f"{self.name}: all {len(outcomes)} checks passed ({', '.join(self.families)})"
        ran_on = next((o.ran_on for o in outcomes if o.family == "device"), None)
        return Outcome(self.id, "basic", not failed, message, ran_on,
                       failed[0].mistake if failed else None, {"families": outcomes})

    # --- shape --------------------------------------------------------------------------------
    def _shape(self, ctx: Context):
        n = self._check_shapes(ctx, self.shape_cases)
        notes = self.extra_checks("shape", ctx)
        return f"shape: {n} cases OK" + "".join(f"; {x}" for x in notes), None

    def _check_shapes(self, ctx: Context, cases: Sequence[Case]) -> int:
        for case in cases:
            probe = self.probe(ctx, case, torch.float32)
            what = case.describe(self.name)
            res = self._result(ctx, probe.call(state=None), what)
            if res.outputs is None:
                self.fail(f"{self.name} returned {type(res.value).__name__} for {what}; "
                          "expected a tensor", "not-a-tensor")
            with torch.no_grad():
                try:
                    expected = _as_list(self.oracle(probe))
                except RemoteError as exc:
                    # a composite oracle loads weights into the student's sub-parts: when they do
                    # not fit, say which parameters differ rather than quote load_state_dict
                    if exc.stage == "load" and self.kind == "module":
                        self._check_structure(ctx, case)
                    raise
            self._check_count(res, expected, what)
            self._check_shape(case, res.out, expected[0], what)
            if res.out.dtype != torch.float32:
                raise dtype_mismatch(what, res.out.dtype, torch.float32)
        return len(cases)

    def _check_shape(self, case: Case, actual: torch.Tensor, want: torch.Tensor,
                     what: str) -> None:
        got, expected = tuple(actual.shape), tuple(want.shape)
        if got != expected:
            raise shape_mismatch(what, got, expected, self.diagnose_shape(case, got, expected))

    # --- values -------------------------------------------------------------------------------
    def _values(self, ctx: Context):
        notes = []
        if self.kind == "module":
            seen = []
            for case in self.value_cases:
                if case.init not in seen:
                    seen.append(case.init)
                    self._check_structure(ctx, case)
            notes.append("parameters OK")
        n = 0
        for case in self.value_cases:
            for dtype in (torch.float32, torch.float64):
                probe = self.probe(ctx, case, dtype)
                # the same object then runs on other inputs: state kept between calls shows
                other = dataclasses.replace(probe, inputs=self.make_inputs(ctx, case, dtype))
                what = f"{case.describe(self.name)}, {_dtype_name(dtype)}"
                res = self._result(ctx, probe.call(repeat=2, then=[list(other.inputs)]), what)
                if res.input_changed:
                    self.fail(f"{self.name} modifies its input in place ({what}): the caller's "
                              "tensor changes. Use out-of-place operations (y = x * w, not "
                              "x *= w; no ReLU(inplace=True) on the input).", "in-place")
                if res.deterministic is False:
                    self.fail(f"{self.name} is not deterministic: two calls with the same input "
                              f"gave different outputs ({what}). No random numbers (dropout, "
                              "torch.rand) or state kept between calls.", "nondeterministic")
                self._compare(probe, res, what)
                self._check_no_state(other, res, what)
                n += 1
        if self.large_input_scale:
            self._check_large_inputs(ctx, self.value_cases[0])
            n += 1
        self._check_batch_independence(ctx)
        notes.append(f"{n} probes match the reference (float32, float64, large inputs)")
        notes += self.extra_checks("values", ctx)
        notes.append("batch samples independent, input unchanged, deterministic")
        return "values: " + "; ".join(notes), None

    def _check_no_state(self, other: Probe, res: Result, what: str) -> None:
        """The output for a second input, from the same object, must be that input's output."""
        if not res.then_outputs or not res.then_outputs[0]:
            return
        with torch.no_grad():
            want = _as_list(self.oracle(other))[0]
        got = res.then_outputs[0][0]
        if tuple(got.shape) != tuple(want.shape) or not close(got, want, other.dtype):
            self.fail(f"{self.name} keeps state between calls ({what}): called a second time "
                      "with another input, the same object returns an output that does not "
                      "belong to that input (a gate or a result cached on self in forward). "
                      "Compute everything from the input of each call.", "state")

    def _compare(self, probe: Probe, res: Result, what: str, family: str = "values") -> None:
        if res.outputs is None:
            self.fail(f"{self.name} returned {type(res.value).__name__} ({what}); expected a "
                      "tensor", "not-a-tensor")
        with torch.no_grad():
            expected = _as_list(self.oracle(probe))
        self._check_count(res, expected, what)
        actual = res.out
        want = expected[0]
        self._check_shape(probe.case, actual, want, what)
        if actual.dtype != probe.dtype and probe.dtype in (torch.float32, torch.float64):
            raise dtype_mismatch(what, actual.dtype, probe.dtype)
        if not close(actual, want, probe.dtype):
            mistake = recognise(self.mistakes, probe, actual, family)
            if mistake is not None:
                self.fail(f"{mistake.hint}\n  (seen for {what})", mistake.label)
            if _float32_precision(actual, want, probe.dtype):
                self._fail_precision(what, actual, want)
            err, off, total = max_error(actual, want)
            tol = TOLERANCES[probe.dtype]
            self.fail(f"{what}: the output differs from the reference: max abs error {err:.3g}, "
                      f"{off} of {total} elements differ (tolerance rtol={tol['rtol']:g}, "
                      f"atol={tol['atol']:g}). Recompute the formula step by step.", "values")

    def _check_large_inputs(self, ctx: Context, case: Case) -> None:
        """The same probe with inputs :attr:`large_input_scale` times larger: code that overflows
        (a sigmoid written as exp(t) / (1 + exp(t))) gives inf or nan where the reference does
        not. Skipped where the reference itself is not finite."""
        probe = self.probe(ctx, case, torch.float32)
        probe.inputs = [t * self.large_input_scale if t.is_floating_point() else t
                        for t in probe.inputs]
        what = (f"{case.describe(self.name)}, float32, inputs {self.large_input_scale:g} times "
                "larger")
        with torch.no_grad():
            want = _as_list(self.oracle(probe))[0]
        if not bool(torch.isfinite(want).all()):
            return
        res = self._result(ctx, probe.call(), what)
        if res.outputs is not None and res.out.is_floating_point() \
                and not bool(torch.isfinite(res.out).all()):
            self.fail(f"{self.name} gives inf or nan for large inputs where the reference is "
                      f"finite ({what}): an overflow, e.g. a sigmoid written as exp(t) / (1 + "
                      "exp(t)). Use torch.sigmoid (or 1 / (1 + exp(-t))), which stays finite.",
                      "overflow")
        self._compare(probe, res, what)

    def _check_count(self, res: Result, expected: list, what: str) -> None:
        if len(res.outputs) != len(expected):
            one = "one tensor" if len(expected) == 1 else f"{len(expected)} tensors"
            self.fail(f"{self.name} returned {len(res.outputs)} tensors (a tuple or list) for "
                      f"{what}; expected {one}. Functions such as torch.max(x, dim=...) return "
                      "(values, indices): take .values, or use torch.maximum / .amax.", "tuple")

    def _check_structure(self, ctx: Context, case: Case) -> None:
        ref = self.reference(case)
        res = self._result(ctx, Call(name=self.name, init=case.init, args=None, introspect=True),
                           f"building {case.describe(self.name)}")
        got = {k: tuple(v[0]) for k, v in (res.params or {}).items()}
        want = {k: tuple(v.shape) for k, v in ref.named_parameters()}
        if got == want:
            return
        missing = [k for k in want if k not in got]
        extra = [k for k in got if k not in want]
        wrong = [k for k in want if k in got and got[k] != want[k]]
        parts = []
        if missing:
            parts.append("missing " + ", ".join(f"{k} {fmt_shape(want[k])}" for k in missing))
        if extra:
            parts.append("unexpected " + ", ".join(f"{k} {fmt_shape(got[k])}" for k in extra))
        if wrong:
            parts.append("wrong shape " + ", ".join(
                f"{k}: {fmt_shape(got[k])} instead of {fmt_shape(want[k])}" for k in wrong))
        count_got = sum(math.prod(s) for s in got.values())
        count_want = sum(math.prod(s) for s in want.values())
        hint = self.diagnose_structure(case, got, want)
        self.fail(f"{case.describe(self.name).split(' on input')[0]} has parameters that differ "
                  f"from the exercise's: {'; '.join(parts)} ({count_got} parameters instead of "
                  f"{count_want})." + (f" {hint}" if hint else ""), "parameters")

    def _fail_precision(self, what: str, actual: torch.Tensor, want: torch.Tensor,
                        of: str = "the output") -> None:
        err = max_error(actual, want)[0]
        self.fail(f"{of} matches the reference only to float32 precision ({what}, max abs error "
                  f"{err:.3g}): part of the computation runs in float32 although the input is "
                  "float64. A .float() cast, a float32 constant tensor or a hard-coded "
                  "dtype=torch.float32? Follow the input: x.dtype, x.new_*, torch.*_like.",
                  "dtype")

    def diagnose_structure(self, case: Case, got: dict, want: dict) -> str | None:
        """A hint for wrong parameter names or shapes, or ``None``."""
        return None

    def _check_batch_independence(self, ctx: Context) -> None:
        case = next((c for c in self.value_cases if c.inputs and c.inputs[0][0] >= 2), None)
        if case is None:
            return
        probe = self.probe(ctx, case, torch.float64)
        changed = [t.clone() for t in probe.inputs]
        changed[0][1:] = ctx.randn(*changed[0][1:].shape, dtype=torch.float64) * 3 + 1
        first, second = ctx.run([probe.call(), probe.call(args=changed)])
        for res in (first, second):
            if not res.ok:
                raise self.error_failure(res.error)
        if not close(first.out[0], second.out[0], torch.float64):
            self.fail(f"{self.name} mixes the samples of a batch: sample 0's output changed when "
                      "only the other samples changed. Reduce over the spatial dims of each "
                      "sample (dims 2 and up), never over dim 0 (the batch).", "batch-mixing")

    # --- gradient -----------------------------------------------------------------------------
    def _gradient(self, ctx: Context):
        cases = list(self.grad_cases) or [self.value_cases[0]]
        for case in cases:
            n_params = self._gradient_case(ctx, case)
        return (f"gradient: {len(cases)} case(s): gradients of the input and {n_params} parameter "
                "tensors match the reference; torch.autograd.gradcheck passed (float64)"), None

    def _gradient_case(self, ctx: Context, case: Case) -> int:
        probe = self.probe(ctx, case, torch.float64, grad=True)
        what = f"{case.describe(self.name)}, float64"
        expected = _as_list(self.oracle(probe))
        grad_out = [ctx.randn(*e.shape, dtype=torch.float64) for e in expected]
        first = self._result(ctx, probe.call(), what)
        if first.outputs is None or tuple(first.out.shape) != tuple(expected[0].shape):
            self.fail(f"{what}: the output has the wrong shape, so gradients cannot be compared; "
                      "fix the shape first (see the shape check).", "shape")
        if first.out.dtype != torch.float64:
            raise dtype_mismatch(what, first.out.dtype, torch.float64)
        res = self._result(ctx, probe.call(grad=grad_out), f"back-propagating ({what})")
        leaves = [t for t in probe.inputs if t.requires_grad] + list(probe.params.values())
        want = torch.autograd.grad(expected, leaves, grad_out, allow_unused=True)
        n_in = sum(1 for t in probe.inputs if t.requires_grad)
        names = ["the input"] * n_in + list(probe.params)
        got = [g for g, t in zip(res.input_grads or [], probe.inputs) if t.requires_grad]
        got += [(res.param_grads or {}).get(k) for k in probe.params]
        want = [torch.zeros_like(t) if w is None else w for t, w in zip(leaves, want)]
        order = list(range(n_in, len(names))) + list(range(n_in))   # parameters first
        for i in order:
            label, g, w = names[i], got[i], want[i]
            if g is None and float(w.abs().max()) > 0:
                self.fail(f"{label} received no gradient ({what}). Something between it and the "
                          "output is detached (.detach(), .data, torch.no_grad(), a tensor rebuilt "
                          "from values), or the parameter is not used.", "no-grad")
            if g is not None and label in self.live_params and float(g.abs().max()) == 0 \
                    and float(w.abs().max()) > 0:
                self.fail(f"zero gradient for {label} ({what}): the part of the graph that "
                          "produces the gate is cut off (a detached gate, or a gate computed "
                          "under torch.no_grad()).", "detached")
        for label, g, w in zip(names, got, want):
            if g is None:
                continue
            if not close(g, w, torch.float64):
                if not close(res.out, expected[0], torch.float64):
                    self.fail(f"{what}: the output differs from the reference, so its gradients "
                              "do too; fix the values first.", "values")
                if _float32_precision(g, w, torch.float64):
                    self._fail_precision(what, g, w, of=f"the gradient of {label}")
                err, off, total = max_error(g, w)
                if label == "the input" and probe.params and all(
                        pg is None or close(pg, pw, torch.float64)
                        for pg, pw in zip(got[n_in:], want[n_in:])):
                    self.fail(f"the gradient of the input differs from the reference ({what}: max "
                              f"abs error {err:.3g}, {off} of {total} elements) while every "
                              "parameter's gradient matches: a path from x to the output is cut "
                              "(x.detach() or x.data fed to one branch, a copy of x rebuilt "
                              "outside autograd), or a custom backward returns a wrong input "
                              "gradient.", "gradient")
                self.fail(f"the gradient of {label} differs from the reference ({what}): max abs "
                          f"error {err:.3g}, {off} of {total} elements. A custom backward, a "
                          "non-differentiable step (round, argmax, integer casts) or a value "
                          "taken out of the graph?", "gradient")
        self._gradcheck(ctx, probe, what)
        return len(probe.params)

    def _gradcheck(self, ctx: Context, probe: Probe, what: str) -> None:
        n_in = len(probe.inputs)
        # the weights vary with gradcheck's perturbations; buffers travel unchanged with them
        buffers = {k: v for k, v in (probe.state or {}).items() if k not in probe.params}
        template = probe.call(args=[], state=buffers or None)
        fn = RemoteFunction(ctx, template, list(probe.params))
        leaves = [t.detach().requires_grad_(t.is_floating_point()) for t in probe.inputs]
        leaves += [p.detach().clone().requires_grad_() for p in probe.params.values()]
        try:
            ok = torch.autograd.gradcheck(lambda *t: fn(*t), tuple(leaves), eps=1e-6, atol=1e-5,
                                          rtol=1e-3, fast_mode=True, raise_exception=False)
        except RemoteError:
            raise
        except RuntimeError as exc:  # gradcheck's own complaints (dtype, sparse outputs, ...)
            self.fail(f"torch.autograd.gradcheck could not run ({what}): {exc}", "gradcheck")
        if not ok:
            self.fail(f"torch.autograd.gradcheck failed ({what}, {n_in} input(s) and "
                      f"{len(probe.params)} parameter tensors): the gradients autograd computes "
                      "disagree with finite differences. A custom autograd.Function with a wrong "
                      "backward, or an operation whose gradient is not what it computes?",
                      "gradcheck")

    # --- device -------------------------------------------------------------------------------
    def _device(self, ctx: Context):
        from . import device
        return device.run_device_family(self, ctx)


def _float32_precision(actual: torch.Tensor, expected: torch.Tensor, dtype) -> bool:
    """Whether a float64 result misses the float64 tolerance but meets float32's: the signature
    of a step computed in float32."""
    return dtype == torch.float64 and close(actual, expected, torch.float32)


def _as_list(out) -> list[torch.Tensor]:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _error_label(error: dict) -> str:
    if error["type"] == "NotImplementedError":
        return "not-implemented"
    if error["stage"] == "lookup":
        return "not-defined"
    return "error"


# --- value exercises ----------------------------------------------------------------------------


class ValueExercise(Exercise):
    """An exercise whose answer is a number (a parameter count, a width), computed by a function
    of a few integer arguments. Only the ``values`` family applies.

    Class attributes:
        arguments: argument tuples to try.
        expected: the reference function of the arguments (computed from ``scse_ref``).
        int_mistakes: ``(label, hint, function of the arguments)`` of typical wrong formulas.
    """

    kind = "function"
    families = ("values",)
    arguments: Sequence[tuple] = ()
    int_mistakes: Sequence[tuple[str, str, Callable]] = ()

    def expected(self, *args) -> int:
        raise NotImplementedError

    def _values(self, ctx: Context):
        calls = [Call(name=self.name, args=list(a)) for a in self.arguments]
        for args, res in zip(self.arguments, ctx.run(calls)):
            what = f"{self.name}{tuple(args)}"
            if not res.ok:
                raise self.error_failure(res.error, f"computing {what}")
            value = res.value if res.outputs is None else res.out
            if isinstance(value, torch.Tensor) and value.numel() == 1:
                value = value.item()
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, int) or isinstance(value, bool):
                self.fail(f"{what} returned {value!r} ({type(value).__name__}); expected an int.",
                          "type")
            want = self.expected(*args)
            if value != want:
                for label, hint, wrong in self.int_mistakes:
                    if value == wrong(*args):
                        self.fail(f"{what} = {value}, expected {want}. {hint}", label)
                self.fail(f"{what} = {value}, expected {want}.", "values")
        return f"values: {len(self.arguments)} cases correct", None
