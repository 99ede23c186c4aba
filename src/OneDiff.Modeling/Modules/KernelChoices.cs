namespace OneDiff.Modeling.Modules;

/// <summary>
/// Process-wide switches between equivalent forms of the model's computations, so that one can be
/// measured against the other (<c>samples/OneDiff.Bench model --compare-kernels</c>, part of the
/// GPU check in docs/gpu.md) and tested both ways. Nothing else needs to set these.
/// </summary>
public static class KernelChoices
{
    /// <summary>RMSNorm as libtorch's <c>rms_norm</c> (which dispatches to <c>_fused_rms_norm</c>:
    /// on CUDA one kernel forward and one backward) or as element-wise operations. Null (the default): fused for CUDA tensors; elsewhere
    /// the element-wise form, since libtorch's CPU rms_norm is the same passes behind one more call.
    /// The fused kernel multiplies by the weight before its single rounding to bf16/fp16, so its
    /// low-precision output can differ from the element-wise form by one unit in the last place; in
    /// fp32 the two agree.</summary>
    public static bool? FusedRmsNorm { get; set; }

    /// <summary>Inference runs q/k/v and gate/up as one product each (<see cref="Modules.FusedProjections"/>),
    /// on every device: on CUDA it saves three kernel launches per layer and token, and on the
    /// CPU the Tiny model's generation was faster with it (docs/benchmarks.md).</summary>
    public static bool FusedProjections { get; set; } = true;

    /// <summary>A generated token goes through every decoder layer in one call into libtorch
    /// (<see cref="Modules.ScriptedDecoderLayers"/>) instead of a TorchSharp call per operation:
    /// the same numbers with less host work per token. Applies where the layers allow it (fused
    /// projections, no LoRA attached, SwiGLU with no bias on o_proj or the MLP).</summary>
    public static bool ScriptedDecoding { get; set; } = true;
}
