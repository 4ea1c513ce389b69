"""Training steps repeat bit for bit in one process (what an exact resume needs)."""

import os

import torch


def test_mkl_strict_mode_is_set_before_torch_computes():
    assert os.environ.get("MKL_CBWR") == "AUTO,STRICT"


def test_a_convolution_backward_repeats_exactly_whatever_the_heap_holds():
    # without MKL's strict mode this differed in about 4 of 5 repeats: the matrix product took
    # another code path when its buffers were aligned differently
    generator = torch.Generator().manual_seed(0)
    conv = torch.nn.Conv2d(480, 120, 1)
    x = torch.randn(1, 480, 1, 1, generator=generator, requires_grad=True)
    grad = torch.randn(1, 120, 1, 1, generator=generator)
    first = None
    for k in range(300):
        held = [torch.empty(1 + (k * 997) % 5000) for _ in range(3)]  # shifts the next buffers
        x.grad = None
        conv(x).backward(grad)
        if first is None:
            first = x.grad.clone()
        assert torch.equal(x.grad, first), f"repeat {k} differs"
        del held
