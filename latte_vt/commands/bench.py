"""``latte-vt bench <name>``: benchmarks that run the competitor in the same run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def int_list(text: str) -> tuple[int, ...]:
    """Parse "1024,4096" into (1024, 4096)."""
    try:
        values = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"lengths must be positive, got {text!r}")
    return values


def print_goals(payload: dict, json_path: Path, md_path: Path) -> int:
    """Say where the report went and each goal, met or missed; exit code 0 (a missed goal is a result)."""
    print(f"wrote {json_path} and {md_path}")
    for text, ok in payload["goals"].items():
        print(f"{'ok ' if ok else 'MISSED'} {text}")
    return 0


def run_attention(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from latte_vt.bench.attention import MODES, default_config, run_attention_bench

    modes = tuple(m.strip() for m in args.modes.split(","))
    if not modes or set(modes) - set(MODES):
        print(f"error: --modes must name some of {MODES}, got {args.modes!r}", file=sys.stderr)
        return 2
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            print("error: --device cuda asked for, but torch sees no CUDA device", file=sys.stderr)
            return 2
    given = {name: getattr(args, name) for name in ("dtype", "batch", "heads", "latents", "head_dim", "seq_lens")}
    cfg = replace(
        default_config(args.device, args.quick),
        modes=modes,
        tuned_malloc=not args.default_malloc,
        **{name: value for name, value in given.items() if value is not None},
    )
    stem = f"attention-{args.device.split(':')[0]}{'-quick' if args.quick else ''}"
    json_path = Path(args.json) if args.json else Path("benchmarks") / f"{stem}.json"
    md_path = Path(args.markdown) if args.markdown else json_path.with_suffix(".md")
    payload = run_attention_bench(cfg, json_path, md_path)
    print(f"wrote {json_path} and {md_path}")
    failed = [r for r in payload["results"] if "error" in r]
    for r in failed:
        print(f"error: {r['method']} {r['mode']} T={r['seq_len']}: {r['error']}", file=sys.stderr)
    return 1 if failed else 0


def run_onnx(args: argparse.Namespace) -> int:
    from latte_vt.bench.onnx import run_onnx_bench

    json_path = Path(args.json) if args.json else Path("benchmarks") / "onnx-cpu.json"
    run_onnx_bench(json_path, json_path.with_suffix(".md"), reps=args.reps, threads=args.threads)
    print(f"wrote {json_path} and {json_path.with_suffix('.md')}")
    return 0


def run_live(args: argparse.Namespace) -> int:
    import tempfile

    from latte_vt.bench.live import run_live_bench

    json_path = Path(args.json) if args.json else Path("benchmarks") / "live-cpu.json"
    with tempfile.TemporaryDirectory() as tmp:
        run_live_bench(json_path, json_path.with_suffix(".md"), args.bundle, args.events, Path(args.workdir or tmp))
    print(f"wrote {json_path} and {json_path.with_suffix('.md')}")
    return 0


def run_pipelines(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from latte_vt.bench.pipelines import QUICK, PipelineBenchConfig, run_pipeline_bench

    base = QUICK if args.quick else PipelineBenchConfig()
    cfg = replace(base, workers=args.workers, ray=not args.no_ray, workdir=args.workdir)
    stem = f"pipelines-cpu{'-quick' if args.quick else ''}"
    json_path = Path(args.json) if args.json else Path("benchmarks") / f"{stem}.json"
    md_path = Path(args.markdown) if args.markdown else json_path.with_suffix(".md")
    run_pipeline_bench(cfg, json_path, md_path)
    print(md_path.read_text())
    print(f"wrote {json_path} and {md_path}")
    return 0


def run_transactions(args: argparse.Namespace) -> int:
    from latte_vt.bench.transactions import TransactionBenchConfig, run_transaction_bench

    cfg = TransactionBenchConfig(
        accounts=args.accounts,
        days=args.days,
        seed=args.seed,
        seeds=args.seeds,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        local_mix=args.local_mix,
        recency=not args.no_recency,
        dim=args.dim,
        latte_dim=args.latte_dim,
        mlp_ratio=args.mlp_ratio,
        long_lengths=args.long_lengths,
        threads=args.threads,
        data_dir=args.data_dir,
    )
    json_path = Path(args.json) if args.json else Path("benchmarks") / "transactions-cpu.json"
    md_path = Path(args.markdown) if args.markdown else json_path.with_suffix(".md")
    try:
        payload = run_transaction_bench(cfg, json_path, md_path, json_path.with_name(json_path.stem + "-pr.png"))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(md_path.read_text())
    print(f"wrote {json_path} and {md_path}")
    return 0 if payload["goal_latte_ap_ge_best_baseline"] else 1


def run_video(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from latte_vt.bench.video import VideoBenchConfig, run_video_bench

    steps = {kind: getattr(args, f"steps_{kind}") for kind in ("patch", "frame", "softmax")}
    for kind, n in steps.items():
        if n is not None and n < 1:
            print(f"error: --steps-{kind} must be at least 1", file=sys.stderr)
            return 2
    if args.threads is not None and args.threads < 1:
        print("error: --threads must be at least 1", file=sys.stderr)
        return 2
    cfg = VideoBenchConfig(data_dir=args.data_dir)
    if args.quick:
        cfg = VideoBenchConfig(
            data_dir=args.data_dir, clips_per_class=6, video_size=64, steps_patch=30, steps_frame=30,
            steps_softmax=15, scaling_frames=(4, 8), scaling_size=64, classes=2,
        )  # fmt: skip
    cfg = replace(cfg, **{f"steps_{kind}": n for kind, n in steps.items() if n is not None})
    if args.threads is not None:
        cfg = replace(cfg, threads=args.threads)
    json_path = Path(args.json) if args.json else Path("benchmarks") / f"video-cpu{'-quick' if args.quick else ''}.json"
    md_path = Path(args.markdown) if args.markdown else json_path.with_suffix(".md")
    payload = run_video_bench(cfg, json_path, md_path)
    return print_goals(payload, json_path, md_path)


def run_long_video(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from latte_vt.bench.long_video import QUICK, LongVideoBenchConfig, run_long_video_bench

    for name in ("steps", "threads"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            print(f"error: --{name} must be at least 1", file=sys.stderr)
            return 2
    cfg = replace(QUICK if args.quick else LongVideoBenchConfig(), data_dir=args.data_dir)
    cfg = replace(
        cfg, **{name: getattr(args, name) for name in ("steps", "threads") if getattr(args, name) is not None}
    )
    stem = f"long-video-cpu{'-quick' if args.quick else ''}"
    json_path = Path(args.json) if args.json else Path("benchmarks") / f"{stem}.json"
    md_path = Path(args.markdown) if args.markdown else json_path.with_suffix(".md")
    payload = run_long_video_bench(cfg, json_path, md_path)
    return print_goals(payload, json_path, md_path)


def run_readme(args: argparse.Namespace) -> int:
    from latte_vt.bench.readme import update_readme

    return update_readme(Path(args.readme), Path(args.benchmarks), args.check)


def register(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="benchmarks against the competitors, in one run")
    bench_sub = bench.add_subparsers(dest="bench", metavar="BENCH")
    bench.set_defaults(func=lambda args: bench.print_help() or 2)

    att = bench_sub.add_parser("attention", help="Latte vs PyTorch SDPA: time and peak memory over T")
    att.add_argument(
        "--device",
        default="cpu",
        help="cpu or cuda[:N] (default cpu). cuda adds Latte through the Triton kernels and fla's kernels when "
        "installed, with defaults B=2, H=8, bfloat16, T=16384,65536",
    )
    att.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], help="float32 (cpu), bfloat16 (cuda)")
    att.add_argument("--quick", action="store_true", help="T in {1k, 4k} (cuda: {4k, 16k}), short timing (~a minute)")
    att.add_argument("--seq-lens", type=int_list, help="comma-separated T values (default 1024,4096,16384,65536)")
    att.add_argument("--modes", default="forward,forward_backward", help="comma-separated: forward, forward_backward")
    att.add_argument("--batch", type=int, help="batch size (default 1 on cpu, 2 on cuda)")
    att.add_argument("--heads", type=int, help="heads (default 4 on cpu, 8 on cuda)")
    att.add_argument("--latents", type=int, help="Latte latents per head (L, default 64)")
    att.add_argument("--head-dim", type=int, help="value width per head (Dh, default 64)")
    att.add_argument("--json", help="results JSON (default benchmarks/attention-<device>[-quick].json)")
    att.add_argument("--markdown", help="Markdown table (default: the JSON path with .md)")
    att.add_argument(
        "--default-malloc", action="store_true", help="leave glibc malloc untuned (slower for both contestants)"
    )
    att.set_defaults(func=run_attention)

    onnx = bench_sub.add_parser("onnx", help="torch eager vs onnxruntime fp32/int8: video, full history, streaming")
    onnx.add_argument("--json", help="results JSON (default benchmarks/onnx-cpu.json; Markdown next to it)")
    onnx.add_argument("--reps", type=int, default=30, help="timed runs per measurement")
    onnx.add_argument("--threads", type=int, default=2, help="intra-op threads for torch and onnxruntime alike")
    onnx.set_defaults(func=run_onnx)

    live = bench_sub.add_parser("live", help="latte-vt stream and serve (durable state) vs re-encoding each history")
    live.add_argument("--bundle", help="transactions bundle (default: an untrained default-size one, built first)")
    live.add_argument("--events", type=int, default=20000, help="synthetic events to stream (default 20000)")
    live.add_argument("--json", help="results JSON (default benchmarks/live-cpu.json; Markdown next to it)")
    live.add_argument("--workdir", help="keep events, scores and states here (default: a temporary folder)")
    live.set_defaults(func=run_live)

    pipes = bench_sub.add_parser(
        "pipelines", help="batch jobs (latte-vt run) vs the one-shot score/classify commands; Ray vs local"
    )
    pipes.add_argument("--json", help="results JSON (default benchmarks/pipelines-cpu[-quick].json)")
    pipes.add_argument("--markdown", help="Markdown report (default: the JSON path with .md)")
    pipes.add_argument("--quick", action="store_true", help="200k events and 60 clips, to check the plumbing")
    pipes.add_argument("--workers", type=int, default=0, help="local workers and Ray CPUs (default 0: all CPUs)")
    pipes.add_argument("--no-ray", action="store_true", help="skip the Ray engine runs")
    pipes.add_argument("--workdir", help="keep data, bundles and outputs here (default: a temporary folder)")
    pipes.set_defaults(func=run_pipelines)

    tx = bench_sub.add_parser("transactions", help="causal Latte vs GRU vs gradient-boosted trees on synthetic fraud")
    tx.add_argument("--json", help="results JSON (default benchmarks/transactions-cpu.json)")
    tx.add_argument("--markdown", help="Markdown report (default: the JSON path with .md)")
    tx.add_argument("--accounts", type=int, default=2000, help="accounts in the synthetic log")
    tx.add_argument("--days", type=int, default=60, help="days in the synthetic log")
    tx.add_argument("--seed", type=int, default=0, help="data seed and first training seed")
    tx.add_argument("--seeds", type=int, default=3, help="training seeds per model; the median-AP run is reported")
    tx.add_argument(
        "--epochs",
        type=int,
        default=6,
        help="training epochs of each sequence model (fixed; the best-validation-AP one is kept)",
    )
    tx.add_argument("--dim", type=int, default=128, help="the GRU's token and hidden width")
    tx.add_argument("--latte-dim", type=int, default=64, help="Latte's token width")
    tx.add_argument("--mlp-ratio", type=float, default=4.0, help="Latte's MLP width as a multiple of --latte-dim")
    tx.add_argument("--batch-size", type=int, default=16, help="training windows per batch (both sequence models)")
    tx.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (both sequence models)")
    tx.add_argument(
        "--local-mix", type=int, default=8, help="Latte's causal local-mix kernel (0 = plain Latte, for the ablation)"
    )
    tx.add_argument("--no-recency", action="store_true", help="Latte without learned recency rates (ablation)")
    tx.add_argument("--long-lengths", type=int_list, default=(10_000, 30_000, 100_000), help="one-account lengths")
    tx.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    tx.add_argument("--data-dir", help="keep/reuse the generated log here (default: a temporary folder)")
    tx.set_defaults(func=run_transactions)

    video = bench_sub.add_parser(
        "video", help="synthetic temporal video classification (patch/frame/softmax) and encoder scaling over frames"
    )
    video.add_argument("--json", help="results JSON (default benchmarks/video-cpu[-quick].json)")
    video.add_argument("--markdown", help="Markdown table (default: the JSON path with .md)")
    video.add_argument("--data-dir", default="data/video-bench", help="synthetic set (generated when missing)")
    for kind, default in (("patch", 4000), ("frame", 4000), ("softmax", 1700)):
        video.add_argument(
            f"--steps-{kind}", type=int, help=f"training steps of the {kind} model (default {default}; --quick: fewer)"
        )
    video.add_argument("--threads", type=int, help="torch threads while training (default 1: fastest on a busy CPU)")
    video.add_argument(
        "--quick", action="store_true", help="a tiny 2-class run, 15-30 steps per model, to check the plumbing (~1 min)"
    )
    video.set_defaults(func=run_video)

    long_video = bench_sub.add_parser(
        "long-video", help="256-frame clips decided by brief events: Latte vs 16 frames vs softmax, options, scaling"
    )
    long_video.add_argument("--json", help="results JSON (default benchmarks/long-video-cpu[-quick].json)")
    long_video.add_argument("--markdown", help="Markdown table (default: the JSON path with .md)")
    long_video.add_argument(
        "--data-dir", default="data/long-video-bench", help="long synthetic set (generated when missing)"
    )
    long_video.add_argument("--steps", type=int, help="training steps of every model (default 3000; --quick: 4)")
    long_video.add_argument("--threads", type=int, help="torch threads while training (default 1)")
    long_video.add_argument(
        "--quick", action="store_true", help="a tiny run (64-frame clips, 4 steps per model) to check the plumbing"
    )
    long_video.set_defaults(func=run_long_video)

    readme = bench_sub.add_parser("readme", help="rewrite the README's headline figures from benchmarks/*.json")
    readme.add_argument("--check", action="store_true", help="change nothing; print the diff and exit 1 if it differs")
    readme.add_argument("--readme", default="README.md", help="the README to rewrite (default README.md)")
    readme.add_argument("--benchmarks", default="benchmarks", help="folder of the JSON reports (default benchmarks)")
    readme.set_defaults(func=run_readme)
