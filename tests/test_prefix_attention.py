"""The batched path of shared-prefix attention (rows in equal blocks per prompt) computes what
the per-prompt loop computes, with and without sliding windows, soft-capping and left padding."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from pivotrl_core.policies.attention import PrefixKV, prefix_attention


def _state(B: int, g: int, L: int, Hkv: int, D: int, layers: int = 1) -> PrefixKV:
    valid = torch.ones(B, L, dtype=torch.bool)
    valid[0, :3] = False  # left padding of the first prompt
    keys = [torch.randn(B, Hkv, L, D) for _ in range(layers)]
    values = [torch.randn(B, Hkv, L, D) for _ in range(layers)]
    return PrefixKV(keys=keys, values=values, valid=valid, row_prompt=torch.arange(B).repeat_interleave(g))


@pytest.mark.parametrize(("sliding_window", "softcap"), [(None, None), (4, None), (None, 30.0)])
@pytest.mark.parametrize("Lq", [1, 5])
def test_blocks_equal_the_per_prompt_loop(sliding_window: int | None, softcap: float | None, Lq: int) -> None:
    torch.manual_seed(0)
    B, g, L, Hkv, Hq, D = 3, 4, 9, 2, 4, 8
    st = _state(B, g, L, Hkv, D)
    assert st.blocks is not None  # the batched path is taken
    q = torch.randn(B * g, Hq, Lq, D)
    k, v = torch.randn(B * g, Hkv, Lq, D), torch.randn(B * g, Hkv, Lq, D)
    module = SimpleNamespace(layer_idx=0)
    kw = {"sliding_window": sliding_window, "softcap": softcap, "pivotrl_prefix": st}
    batched, _ = prefix_attention(module, q, k, v, None, **kw)
    st.blocks = None  # force the loop over prompts
    looped, _ = prefix_attention(module, q, k, v, None, **kw)
    assert batched.shape == (B * g, Lq, Hq, D)
    torch.testing.assert_close(batched, looped, rtol=0, atol=1e-6)


def test_uneven_or_reordered_rows_fall_back_to_the_loop() -> None:
    st = _state(3, 4, 9, 2, 8)
    st.select_rows(torch.tensor([0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11]))  # prompt 0 lost a row
    assert st.blocks is None and len(st.groups) == 3
    st.select_rows(torch.tensor([3, 4, 5, 6, 7, 8, 9, 10]))  # prompt 0 finished: 2 blocks of 4 remain
    assert st.blocks is not None and st.blocks[1] == 4
    torch.manual_seed(1)
    q, k, v = torch.randn(8, 4, 1, 8), torch.randn(8, 2, 1, 8), torch.randn(8, 2, 1, 8)
    module = SimpleNamespace(layer_idx=0)
    batched, _ = prefix_attention(module, q, k, v, None, pivotrl_prefix=st)
    st.blocks = None
    looped, _ = prefix_attention(module, q, k, v, None, pivotrl_prefix=st)
    torch.testing.assert_close(batched, looped, rtol=0, atol=1e-6)
