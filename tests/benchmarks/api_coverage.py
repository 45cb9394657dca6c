"""How much of PyTorch's public API the engine offers, namespace by namespace.

Run where torch is installed:
    python tests/benchmarks/api_coverage.py [--missing] [--json] [--usage FILE] [--markdown PATH]

For each namespace it lists PyTorch's public names (no leading underscore; the deliberate omissions
in OMITTED filtered out) and checks that `getattr(engine_namespace, name)` works. `--usage FILE`
reads a frequency table {"counts": {label: {name: count}}} (labels as in NAMESPACES) and sorts
missing names by how often real programs use them.
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib
import json
import sys
import types
import warnings
from typing import Any

import torch

# (label, PyTorch object, engine object, rule). "pkg.mod:Attr" names an attribute of a module.
# Rules: "dir" = dir(); "all" = __all__; "classes" = classes in dir(); "functions" = functions.
NAMESPACES = [
    ("torch", "torch", "engine", "dir"),
    ("Tensor", "torch:Tensor", "engine:Tensor", "dir"),
    ("nn", "torch.nn", "engine.nn", "classes"),
    ("F", "torch.nn.functional", "engine.nn.functional", "functions"),
    ("init", "torch.nn.init", "engine.nn.init", "all"),
    ("optim", "torch.optim", "engine.optim", "all"),
    ("lr_scheduler", "torch.optim.lr_scheduler", "engine.optim.lr_scheduler", "all"),
    ("data", "torch.utils.data", "engine.utils.data", "all"),
    ("autograd", "torch.autograd", "engine.autograd", "all"),
]

# Deliberate omissions. Key: space-separated fnmatch patterns. A bare pattern applies to the top
# level and to Tensor; "label.pattern" applies to that namespace only. Value: the reason.
OMITTED = {
    "*complex* cfloat cdouble chalf conj* is_conj resolve_conj view_as_real* polar real imag":
        "complex numbers: out of scope for a real-valued NumPy engine",
    "*sparse* *spmm smm hsmm dsmm saddmm *indices_copy values_copy coalesce is_coalesced indices "
    "values crow_indices col_indices ccol_indices row_indices dense_dim to_dense sspaddmm":
        "sparse tensors (COO/CSR/CSC/BSR layouts): out of scope; every engine tensor is dense",
    "*quant* q_* qint* quint* qscheme per_channel_* per_tensor_* int_repr dequantize fbgemm_* "
    "choose_qparams_optimized ao QInt* QUInt*":
        "quantization (int8 kernels, observers, fake-quant): out of scope",
    "jit Script* *Type Type AliasDb Argument ArgumentSpec Block Code CompilationUnit FileCheck "
    "CompleteArgumentSpec ConcreteModuleType* DeepCopyMemoTable ErrorReport ExecutionPlan "
    "FunctionSchema Gradient Graph GraphExecutorState JITException LiteScriptModule *Logger* Node "
    "StaticModule TracingState Use Value Capsule IODescriptor OperatorInfo parse_ir parse_schema "
    "parse_type_comment merge_type_from_type_comment import_ir_module* unify_type_list classes "
    "fork wait Future futures ModuleDict ParameterDict BufferDict":
        "TorchScript/JIT: IR classes, script types and async fork/wait; the engine runs eagerly",
    "fx compile compiler export cond while_loop sym_* Sym* library ops Tag DispatchKey* "
    "ExcludeDispatchKeyGuard DisableTorchFunction* overrides PRIVATE_OPS classproperty "
    "nonzero_static segment_reduce as_subclass index":
        "FX/torch.compile/export, dispatcher and tensor-subclass plumbing (symbolic shapes, op "
        "registration, first-class dims)",
    "is_distributed":
        "a legacy tensor query; the process group is engine.distributed (MPI)",
    "mps xpu mtia ipu is_ipu is_xla is_maia is_mps is_mtia is_xpu is_vulkan is_vulkan_available "
    "*mkldnn* miopen_* cudnn_* Stream Event record_stream":
        "MPS/XPU/MTIA/IPU/XLA/Vulkan devices, vendor kernels and device streams: the engine knows "
        "CPU (NumPy) and CUDA (CuPy) only",
    "*autocast_* autocast_increment_nesting autocast_decrement_nesting":
        "autocast internals (per-device state); torch.autocast itself is kept",
    "nested jagged is_nested to_padded_tensor masked":
        "nested/jagged tensors and masked tensors (prototype layouts)",
    "name output_nr module_load is_meta untyped_storage storage storage_type data_ptr "
    "const_data_ptr is_storage *Storage StorageBase set_ is_set_to":
        "storage objects, raw pointers, meta tensors and autograd-graph internals",
    "bit bits* float8_* float4_* int1 int2 int3 int4 int5 int6 int7 uint1 uint2 uint3 uint4 uint5 "
    "uint6 uint7 complex32":
        "sub-byte, bit and fp8/fp4 dtypes: NumPy has no equivalent",
    "eig symeig lstsq matrix_rank solve volatile reinforce resize legacy_contiguous_format "
    "set_default_tensor_type":
        "deprecated and removed (raise in current PyTorch) or legacy-only",
    "TYPE_CHECKING USE_GLOBAL_DEPS USE_RTLD_GLOBAL_WITH_LIBTORCH compiled_with_cxx11_abi "
    "has_lapack has_mkl has_openmp has_spectral get_file_path prepare_multiprocessing_environment "
    "cpp profiler_allow_cudagraph_* init_num_threads torch torch_version types return_types "
    "functional windows FatalError CallStack thread_safe_generator":
        "build flags, import-time plumbing and implementation modules",
    "ThroughputBenchmark Benchmark* AggregationType AVG SUM PyTorchFile* *StorageContext "
    "monitor package":
        "C++ benchmarking, serialization and packaging internals",
    "alias_copy as_strided_copy detach_copy diagonal_copy expand_copy permute_copy select_copy "
    "slice_copy split_copy split_with_sizes_copy squeeze_copy t_copy transpose_copy unbind_copy "
    "unfold_copy unsqueeze_copy view_copy unsafe_* rsub slice_inverse":
        "view-copy and unsafe variants generated for functionalization; programs use the views",
    "native_* batch_norm_* constant_pad_nd convolution conv_tbc grid_sampler* "
    "affine_grid_generator embedding_renorm_ rnn_relu* rnn_tanh* lstm lstm_cell gru gru_cell "
    "norm_except_dim frobenius_norm nuclear_norm feature_dropout*":
        "raw ATen kernels behind nn.functional / nn modules; programs call those instead",
    "torch.*_":
        "top-level in-place function forms (torch.abs_(x)), undocumented; x.abs_() is kept",
    "nn.Container nn.NLLLoss2d F.upsample F.upsample_* init.uniform init.normal init.constant "
    "init.eye init.dirac init.xavier_uniform init.xavier_normal init.kaiming_uniform "
    "init.kaiming_normal init.orthogonal init.sparse":
        "deprecated aliases (init's non-underscore forms warn; use the trailing-underscore ones)",
    "nn.SyncBatchNorm nn.DataParallel data.DistributedSampler":
        "multi-device data parallelism: out of scope (one device per process)",
    "F.has_torch_function* F.handle_torch_function F.boolean_dispatch F.assert_int_or_pair "
    "F.native_channel_shuffle F.conv_tbc F.*grouped_mm F.scaled_mm":
        "override plumbing, helpers and fp8/grouped GEMM GPU kernels",
    "data.*DataPipe data.DataChunk data.functional_datapipe data.guaranteed_datapipes_determinism "
    "data.non_deterministic data.runtime_validation* data.argument_validation":
        "DataPipes: deprecated (moved to torchdata, then dropped)",
    "autograd.NestedIOFunction autograd.variable autograd.set_multithreading_enabled":
        "legacy autograd API and C++ engine threading switch",
}


def omitted_reason(label: str, name: str) -> str | None:
    """The OMITTED reason that covers label.name, or None."""
    for key, reason in OMITTED.items():
        for pat in key.split():
            ns, dot, bare = pat.rpartition(".")
            if (dot and ns == label or not dot and label in ("torch", "Tensor")) and \
                    fnmatch.fnmatchcase(name, bare):
                return reason
    return None


def resolve(path: str) -> Any:
    """Import "pkg.mod" or "pkg.mod:Attr"; raises ImportError/AttributeError."""
    mod, _, attr = path.partition(":")
    obj = importlib.import_module(mod)
    return getattr(obj, attr) if attr else obj


def public_names(obj: Any, rule: str) -> list[str]:
    """PyTorch's public names in obj under the given rule (foreign modules and typing dropped)."""
    names = getattr(obj, "__all__", None) if rule == "all" else None
    if names is None:
        names = dir(obj)
    out = []
    for name in names:
        if name.startswith("_"):
            continue
        value = getattr(obj, name, None)
        module = getattr(value, "__module__", None) or ""
        if isinstance(value, types.ModuleType):
            if not value.__name__.startswith("torch") or rule in ("classes", "functions"):
                continue
        elif module.startswith(("typing", "collections")):
            continue
        elif rule == "classes" and not isinstance(value, type):
            continue
        elif rule == "functions" and (isinstance(value, type) or not callable(value)
                                      or not module.startswith("torch")):
            continue
        out.append(name)
    return sorted(set(out))


def has_attr(obj: Any, name: str) -> bool:
    """getattr(obj, name) works without raising."""
    try:
        getattr(obj, name)
    except Exception:  # noqa: BLE001 - any failure means the engine lacks it
        return False
    return True


def survey(usage: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """One result dict per namespace: present, missing (by usage), omitted."""
    results = []
    for label, torch_path, engine_path, rule in NAMESPACES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            names = public_names(resolve(torch_path), rule)
        try:
            engine_obj: Any = resolve(engine_path)
        except (ImportError, AttributeError):
            engine_obj = None
        kept = [n for n in names if omitted_reason(label, n) is None]
        present = [n for n in kept if engine_obj is not None and has_attr(engine_obj, n)]
        counts = usage.get(label, {})
        missing = sorted(set(kept) - set(present), key=lambda n: (-counts.get(n, 0), n))
        results.append({
            "label": label, "namespace": torch_path.replace(":", "."),
            "engine": engine_path.replace(":", "."), "available": engine_obj is not None,
            "have": len(present), "total": len(kept), "omitted": len(names) - len(kept),
            "present": present, "missing": missing,
            "missing_usage": {n: counts[n] for n in missing if counts.get(n)},
        })
    return results


def pct(r: dict[str, Any]) -> str:
    """have/total as a percentage string."""
    return f"{100 * r['have'] / r['total']:.0f}%" if r["total"] else "n/a"


def priority(results: list[dict[str, Any]], top: int) -> list[tuple[str, str, int]]:
    """The `top` most-used missing names over all namespaces: (namespace, name, count)."""
    rows = [(r["namespace"], n, c) for r in results for n, c in r["missing_usage"].items()]
    return sorted(rows, key=lambda t: (-t[2], t[0], t[1]))[:top]


def fmt_missing(r: dict[str, Any], tick: str = "") -> str:
    """Comma-separated missing names (quoted with tick), with usage counts where known."""
    use = r["missing_usage"]
    return ", ".join(f"{tick}{n}{tick}" + (f" ({use[n]})" if n in use else "")
                     for n in r["missing"])


def markdown(results: list[dict[str, Any]], usage_meta: list[dict[str, Any]] | None,
             top: int) -> str:
    """The docs/compat.md document."""
    lines = [
        "# PyTorch API coverage", "",
        "Generated by `python tests/benchmarks/api_coverage.py --markdown docs/compat.md` against "
        f"PyTorch {torch.__version__}; do not edit by hand. A name counts as present when "
        "`getattr` on the engine's namespace succeeds, so this measures surface, not semantics. "
        "Names PyTorch exposes but the engine deliberately leaves out are excluded from the totals "
        "and listed under [Deliberate omissions](#deliberate-omissions).", "",
        "| PyTorch namespace | engine | present | total | coverage |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for r in results:
        engine = f"`{r['engine']}`" + ("" if r["available"] else " (missing)")
        lines.append(f"| `{r['namespace']}` | {engine} | {r['have']} | {r['total']} | {pct(r)} |")
    if usage_meta is not None:
        srcs = ", ".join(f"{m['source']} ({m['files']} files)" for m in usage_meta)
        lines += ["", "## Most-used missing names", "",
                  f"Missing names ranked by how often they occur in {srcs}; this section needs "
                  "`--usage FILE`, a frequency table built outside this repository.", "",
                  "| name | uses |", "| --- | ---: |"]
        lines += [f"| `{ns}.{n}` | {c} |" for ns, n, c in priority(results, top)]
    for r in results:
        lines += ["", f"## `{r['namespace']}`", "",
                  f"{r['have']}/{r['total']} ({pct(r)}); {r['omitted']} omitted deliberately."]
        if not r["available"]:
            lines += ["", f"`{r['engine']}` does not exist yet."]
        lines += ["", f"**Present ({len(r['present'])}):** "
                  + (", ".join(f"`{n}`" for n in r["present"]) or "none"),
                  "", f"**Missing ({len(r['missing'])}):** " + (fmt_missing(r, "`") or "none")]
    lines += ["", "## Deliberate omissions", "",
              "Patterns are shell-style; a bare pattern applies to `torch` and `torch.Tensor`, "
              "a `label.pattern` one to that namespace only (`nn`, `F`, `init`, `data`, ...).", "",
              "| names | reason |", "| --- | --- |"]
    for key, reason in OMITTED.items():
        lines.append(f"| {', '.join(f'`{p}`' for p in key.split())} | {reason} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--missing", action="store_true", help="list missing names per namespace")
    ap.add_argument("--json", action="store_true", help="print machine-readable results")
    ap.add_argument("--usage", metavar="FILE", help="usage-frequency JSON to rank missing names")
    ap.add_argument("--top", type=int, default=80, help="size of the most-used missing list")
    ap.add_argument("--markdown", metavar="PATH", help="write the Markdown report to PATH")
    args = ap.parse_args(argv)
    usage_doc: dict[str, Any] = {}
    if args.usage:
        with open(args.usage) as fh:
            usage_doc = json.load(fh)
    results = survey(usage_doc.get("counts", {}))
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(markdown(results, usage_doc.get("sources", []) if args.usage else None,
                              args.top))
    if args.json:
        doc: dict[str, Any] = {"torch_version": torch.__version__, "namespaces": results}
        if args.usage:
            doc["priority"] = [{"namespace": ns, "name": n, "count": c}
                               for ns, n, c in priority(results, args.top)]
        json.dump(doc, sys.stdout, indent=1)
        print()
        return 0
    for r in results:
        note = "" if r["available"] else f"  [{r['engine']} missing]"
        print(f"{r['namespace']}: {r['have']}/{r['total']} ({pct(r)}){note}")
    if args.missing:
        for r in results:
            print(f"\n{r['namespace']} missing ({len(r['missing'])}): {fmt_missing(r)}")
    if args.usage:
        print(f"\nmost-used missing (top {args.top}):")
        for ns, n, c in priority(results, args.top):
            print(f"  {ns}.{n}: {c}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
