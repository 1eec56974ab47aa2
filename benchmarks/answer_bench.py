"""What each prompt version's answer costs, on the 500 SciERC abstracts (real text).

For every prompt version (extraction.requests.PROMPT_VERSIONS):

1. **Gold answer size**: the answer a model would give if it returned exactly the gold
   mentions of each abstract (SciERC types mapped to ours, Generic left out, one entry per
   distinct mention), written in that version's format the way the emulator writes JSON.
   Tokens are counted with two proxies: characters / 4 — the emulator's billing rule and
   Google's documented rule of thumb, which the pipeline replaces by a ratio calibrated
   with countTokens — and the WordPiece tokenizer of the packaged MiniLM model (a real
   subword tokenizer, 30k vocabulary; Gemini's 256k SentencePiece vocabulary splits
   English into fewer pieces, so read it as an upper bound). The WordPiece proxy is
   calibrated against what the emulator billed for its own answers (ratio printed).
2. **Emulator run**: the same abstracts as one batch job through the offline emulator and
   the real google-genai SDK; billed input and output tokens per passage, concepts per
   passage, the share of concepts with located evidence, the alignment kinds.
3. **Projection** for 550k passages at the default prices: emulator-billed input with the
   emulator's output, and with the gold answer's output (what a model that finds every
   gold mention would bill).
4. **Packing** (several passages per request): what sharing the system instruction and
   prompt template among k passages would save, computed from the rendered requests.

Nothing is asserted: figures to read. ``python benchmarks/answer_bench.py [--passages N]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout, not an installed copy

from polymath_assets.config import Config  # noqa: E402
from polymath_assets.corpus.lexicon import CONCEPT_TYPES  # noqa: E402
from polymath_assets.extraction import compact  # noqa: E402
from polymath_assets.extraction.estimate import PROJECTED_PASSAGES  # noqa: E402
from polymath_assets.extraction.requests import (  # noqa: E402
    PROMPT_VERSIONS,
    RequestSettings,
    fixed_prompt_chars,
    request_key,
    write_request_file,
)
from polymath_assets.extraction.results import ResultContext, ResultStats, read_results  # noqa: E402
from polymath_assets.gemini.client import BatchClient  # noqa: E402
from polymath_assets.gemini.emulator import Faults, GeminiEmulator  # noqa: E402
from polymath_assets_tests.real_text import load_scierc  # noqa: E402

SCIERC_TYPES = {"Method": "method", "Task": "problem", "Metric": "metric", "Material": "dataset",
                "OtherScientificTerm": "entity"}
QUOTE_WORDS = 10


def bench(name: str, value: float, unit: str) -> None:
    print(f"BENCH {name} {value:.4g} {unit}", flush=True)


def gold_mentions(row: dict) -> list[dict]:
    """The distinct gold mentions of one abstract (first occurrence each), Generic left out."""
    seen: dict[str, dict] = {}
    for mention in row["mentions"]:
        if mention["type"] in SCIERC_TYPES:
            seen.setdefault(mention["text"].lower(), mention)
    return sorted(seen.values(), key=lambda m: m["start"])


def _quote(text: str, mention: dict) -> str:
    """About ten words of the passage around the mention: the v1 answer's one quote."""
    before = text[:mention["start"]].split()[-(QUOTE_WORDS // 2):]
    after = text[mention["end"]:].split()[:QUOTE_WORDS // 2]
    return " ".join([*before, mention["text"], *after])


def gold_answer(row: dict, settings: RequestSettings) -> str:
    """The answer text a model returning exactly the gold mentions would write."""
    text, mentions = row["passage_text"], gold_mentions(row)
    if settings.compact:
        document = compact.render([(m["text"], SCIERC_TYPES[m["type"]], None, None) for m in mentions])
    else:
        document = {"concepts": [{"name": m["text"], "type": SCIERC_TYPES[m["type"]], "aliases": [],
                                  "confidence": 0.9, "quotes": [_quote(text, m)]} for m in mentions]}
    return json.dumps(document, ensure_ascii=False)


def gold_answer_size(rows: list[dict], settings: RequestSettings) -> float:
    """Mean tokens per passage of the gold answers, at 4 characters a token: what
    requests.GOLD_ANSWER_TOKENS records (rounded) for the 500 abstracts."""
    return statistics.fmean(len(gold_answer(r, settings)) / 4 for r in rows)


def wordpiece():
    from tokenizers import Tokenizer

    from polymath_assets.embedding.encoder import resolve_model_path

    tokenizer = Tokenizer.from_file(str(Path(resolve_model_path("packaged-minilm")) / "tokenizer.json"))
    tokenizer.no_truncation()  # the model file truncates at 128 pieces
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)


def emulator_run(rows: list[dict], settings: RequestSettings, work: Path) -> dict:
    """One batch job of every abstract through the emulator; billed usage and evidence."""
    fingerprint = settings.fingerprint()
    keyed = {request_key(r["passage_text"], fingerprint): r for r in rows}
    passages = {key: [(r["doc_id"], r["passage_text"])] for key, r in keyed.items()}
    requests = work / f"requests-{settings.prompt_version}.jsonl"
    write_request_file(requests, ((k, r["passage_text"]) for k, r in keyed.items()), settings)
    with GeminiEmulator(state_dir=work / f"emulator-{settings.prompt_version}", faults=Faults()) as emulator:
        client = BatchClient("offline-emulator", base_url=emulator.base_url, provider="gemini-emulator")
        job = client.create(settings.model, client.upload(requests, requests.name), f"answer-bench-{settings.prompt_version}")
        status = client.status(job)
        while not status.terminal:
            time.sleep(0.2)
            status = client.status(job)
        results = work / f"results-{settings.prompt_version}.jsonl"
        client.download(status.output_file, results)
    ctx = ResultContext("bench", settings.model, settings.concept_types, 0.85, compact=settings.compact)
    stats, outcomes = ResultStats(), []
    rows_out = list(read_results(results, passages, ctx, stats, outcomes))
    located = sum(1 for r in rows_out if any(s["start"] is not None for s in r.evidence["support"]))
    answers = [json.loads(line)["response"]["candidates"][0]["content"]["parts"][0]["text"]
               for line in results.read_text().splitlines() if line.strip()]
    return {"prompt_tokens": stats.prompt_tokens / len(keyed), "output_tokens": stats.output_tokens / len(keyed),
            "billed_output": stats.output_tokens, "answers": answers,
            "concepts": len(rows_out) / len(keyed), "located": located / max(1, len(rows_out)),
            "alignment": Counter(r.evidence["quality"]["alignment"] for r in rows_out),
            "below_floor": sum(1 for r in rows_out if r.confidence < 0.7) / max(1, len(rows_out))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=500, help="How many SciERC abstracts (at most 500).")
    args = parser.parse_args()
    rows = load_scierc()[:args.passages]
    config = Config.from_env({})
    price_in, price_out = config.price_input_per_m, config.price_output_per_m
    count_pieces = wordpiece()
    print(f"# {len(rows)} SciERC abstracts; prices ${price_in}/M input, ${price_out}/M output; "
          f"projection for {PROJECTED_PASSAGES:,} passages")
    with tempfile.TemporaryDirectory(prefix="answer-bench-") as tmp:
        for version in PROMPT_VERSIONS:
            settings = RequestSettings.from_config(Config.from_env({"POLYMATH_PROMPT_VERSION": version}), CONCEPT_TYPES)
            tag = version.replace("-", "_")
            gold_chars = gold_answer_size(rows, settings)
            gold_pieces = statistics.fmean(count_pieces(gold_answer(r, settings)) for r in rows)
            run = emulator_run(rows, settings, Path(tmp))
            calibration = sum(count_pieces(a) for a in run["answers"]) / run["billed_output"]
            bench(f"answer_tokens_gold_{tag}", gold_chars, "tokens/passage (chars/4)")
            bench(f"answer_tokens_gold_wordpiece_{tag}", gold_pieces, "tokens/passage (WordPiece)")
            bench(f"wordpiece_per_billed_token_{tag}", calibration, "ratio (emulator answers)")
            bench(f"answer_tokens_gold_calibrated_{tag}", gold_pieces / calibration,
                  "tokens/passage (WordPiece / ratio)")
            bench(f"emulator_input_tokens_{tag}", run["prompt_tokens"], "tokens/passage")
            bench(f"emulator_output_tokens_{tag}", run["output_tokens"], "tokens/passage")
            bench(f"emulator_concepts_{tag}", run["concepts"], "concepts/passage")
            bench(f"emulator_located_{tag}", 100 * run["located"], "% of concepts")
            bench(f"emulator_below_confidence_floor_{tag}", 100 * run["below_floor"], "% of concepts")
            print(f"# {version} alignment kinds: {dict(run['alignment'])}")
            emulator_usd = PROJECTED_PASSAGES * (run["prompt_tokens"] * price_in + run["output_tokens"] * price_out) / 1e6
            gold_usd = PROJECTED_PASSAGES * (run["prompt_tokens"] * price_in + gold_chars * price_out) / 1e6
            bench(f"projected_usd_550k_emulator_{tag}", emulator_usd, "USD")
            bench(f"projected_usd_550k_gold_answer_{tag}", gold_usd, "USD")
            fixed = fixed_prompt_chars(settings) / 4
            for k in (4, 8):
                saved = PROJECTED_PASSAGES * fixed * (1 - 1 / k) * price_in / 1e6
                bench(f"packing_{k}_per_request_saves_{tag}", saved, "USD (of the 550k projection)")


if __name__ == "__main__":
    main()
