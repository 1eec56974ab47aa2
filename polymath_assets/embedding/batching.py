"""Length-sorted batches: passages of similar length share a batch, so the model pads
little. Pure and deterministic (ties broken by passage id)."""

from __future__ import annotations


def length_sorted_batches(items: list[tuple[str, str]], batch_size: int) -> list[list[tuple[str, str]]]:
    """Cut ``(passage_id, text)`` pairs, longest text first, into batches of ``batch_size``
    (the last one may be shorter)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    # Character length stands in for token length: close enough to group passages, and
    # free (the tokenizer runs later, inside the encoder).
    ordered = sorted(items, key=lambda item: (-len(item[1]), item[0]))
    return [ordered[start:start + batch_size] for start in range(0, len(ordered), batch_size)]
