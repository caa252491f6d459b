"""Consistent self-attention across the pages drawn in one batch (after StoryDiffusion, our own code).

StoryDiffusion (Zhou et al. 2024, github.com/HVision-NKU/StoryDiffusion) keeps characters alike across
the images of a story without training: in the UNet's self-attention layers (attn1) of its up blocks,
every image of the batch attends to its own tokens and to a random sample of the other images' tokens
(its "sa32"/"sa64" rate, 0.5 by default), so a face or a coat drawn on one page leaks into the others.
Cross-attention (attn2, the text) is left alone.

What this module does, for a batch of n pages (the classifier-free guidance batch is 2n: [uncond; cond]):

- the keys and values of page i are its own N tokens followed by k = round(rate * N) tokens sampled
  from each other page j of the same half: N + (n - 1) * k in all. Its queries are its own N tokens,
  so the output keeps its shape and page i still "sees" all of itself;
- sharing stays inside each half: an unconditional page borrows from unconditional pages only, a
  conditional one from conditional ones (mixing the halves would leak the prompt into the
  unconditional branch and break guidance). Both halves use the same sampled positions;
- the positions are drawn again for every layer call (every step), from one torch.Generator seeded per
  batch (ConsistencyState.begin), so the same book with the same seeds draws the same pictures;
- only the up blocks' self-attention layers are replaced, as StoryDiffusion does (for SD 1.5 the 16x16,
  32x32 and 64x64 latent resolutions at 512 px; its down and mid blocks keep plain attention);
- with rate 0, a batch of one page, or a batch that does not split into the halves the state
  announces, the processor is exactly diffusers' AttnProcessor2_0.

Where we differ from StoryDiffusion: it builds one (n*N) x (n*N) boolean mask with a Bernoulli(rate)
choice per token (memory grows with the square of the whole batch's tokens); we gather a fixed number
of tokens per other page, which gives each page the same key length and needs no mask: a layer's
attention costs (1 + (n - 1) * rate) times plain attention's (2.5 times for 4 pages at 0.5; the
projections are not repeated, so the whole layer costs about twice as much). It also skips the first few steps and leaves
10-30% of layer calls plain at random; img2img starts from the photo's layout, partway into the
schedule, so every step shares here. Pages of different batches (a book longer than
TALES_ILLUSTRATOR_BATCH) do not share: StoryDiffusion's "id bank" of stored tokens would carry them over
at the cost of keeping every layer's tokens of every step.

The processors of one UNet share a ConsistencyState that the illustrator sets before each pipeline call
and clears after it, so one process draws one batch at a time with it (the worker's solo pool does).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# StoryDiffusion puts its consistent processors on the up blocks' self-attention only.
CONSISTENT_BLOCKS = ("up_blocks.",)


@dataclass
class ConsistencyState:
    """What the next pipeline call wants of the consistent processors of one UNet."""

    rate: float = 0.0  # the share of each other page's tokens a page attends to (0: plain attention)
    halves: int = 1  # 2 while classifier-free guidance doubles the batch as [uncond; cond]
    generator: Any = None  # a CPU torch.Generator: which tokens are shared, drawn again at every call
    calls: int = field(default=0)  # consistent (not plain) attention calls since begin(); the tests read it

    def begin(self, rate: float, halves: int, seed: int) -> None:
        """Set up for one pipeline call: the rate, the guidance halves, and the token draws' seed."""
        import torch

        self.rate, self.halves, self.calls = float(rate), max(1, int(halves)), 0
        self.generator = torch.Generator(device="cpu").manual_seed(seed & 0x7FFF_FFFF_FFFF_FFFF)

    def end(self) -> None:
        """Back to plain attention (a later call that forgets begin() must not share by accident)."""
        self.rate, self.halves, self.generator = 0.0, 1, None


class ConsistentSelfAttnProcessor:
    """A diffusers attention processor for self-attention (attn1): each page also attends to a sample
    of the other pages' tokens in the same guidance half (see the module's docstring)."""

    def __init__(self, state: ConsistencyState):
        from diffusers.models.attention_processor import AttnProcessor2_0

        self.state = state
        self.plain = AttnProcessor2_0()

    def _pages(self, hidden_states: Any, encoder_hidden_states: Any, attention_mask: Any) -> int:
        """Pages per half when this call shares tokens, else 0 (plain attention)."""
        state = self.state
        if encoder_hidden_states is not None or attention_mask is not None or state.rate <= 0 or state.generator is None:
            return 0
        batch = hidden_states.shape[0]
        if batch % state.halves:
            return 0
        pages = batch // state.halves
        return pages if pages > 1 else 0

    def __call__(self, attn: Any, hidden_states: Any, encoder_hidden_states: Any = None, attention_mask: Any = None,
                 temb: Any = None, *args: Any, **kwargs: Any) -> Any:
        pages = self._pages(hidden_states, encoder_hidden_states, attention_mask)
        if not pages:
            return self.plain(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)
        import torch
        import torch.nn.functional as F

        state = self.state
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch, channel, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch, channel, height * width).transpose(1, 2)
        batch, tokens, _ = hidden_states.shape
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)

        query = attn.to_q(hidden_states)
        key = attn.to_k(hidden_states)
        value = attn.to_v(hidden_states)

        # k positions per page, the same for both halves, drawn again at every call.
        shared = min(tokens, max(1, round(state.rate * tokens)))
        positions = torch.rand(pages, tokens, generator=state.generator).argsort(dim=1)[:, :shared]
        positions = positions.sort(dim=1).values.to(hidden_states.device)
        # others[i] = the pages other than i, in book order.
        others = torch.tensor([[j for j in range(pages) if j != i] for i in range(pages)], device=hidden_states.device)

        def with_others(projected: Any) -> Any:
            halves = projected.view(state.halves, pages, tokens, -1)
            picked = torch.gather(halves, 2, positions[None, :, :, None].expand(state.halves, -1, -1, halves.shape[-1]))
            borrowed = picked[:, others].reshape(state.halves, pages, (pages - 1) * shared, -1)
            return torch.cat([halves, borrowed], dim=2).reshape(batch, tokens + (pages - 1) * shared, -1)

        key, value = with_others(key), with_others(value)
        inner_dim = key.shape[-1]
        head_dim = inner_dim // attn.heads
        query = query.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
        key = key.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
        value = value.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)

        hidden_states = F.scaled_dot_product_attention(query, key, value, dropout_p=0.0, is_causal=False)
        hidden_states = hidden_states.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim).to(query.dtype)
        hidden_states = attn.to_out[0](hidden_states)
        hidden_states = attn.to_out[1](hidden_states)
        if input_ndim == 4:
            hidden_states = hidden_states.transpose(-1, -2).reshape(batch, channel, height, width)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        state.calls += 1
        return hidden_states / attn.rescale_output_factor


def is_consistent_layer(name: str) -> bool:
    """True for the processor names that get consistent attention: the up blocks' attn1."""
    return name.endswith("attn1.processor") and name.startswith(CONSISTENT_BLOCKS)


def install(unet: Any) -> ConsistencyState:
    """Put consistent processors on the up blocks' self-attention (attn1) of `unet`, diffusers'
    AttnProcessor2_0 on every other layer (attn2 cross-attention included); returns their shared state."""
    from diffusers.models.attention_processor import AttnProcessor2_0

    state = ConsistencyState()
    processors = {
        name: ConsistentSelfAttnProcessor(state) if is_consistent_layer(name) else AttnProcessor2_0()
        for name in unet.attn_processors
    }
    unet.set_attn_processor(processors)
    return state
