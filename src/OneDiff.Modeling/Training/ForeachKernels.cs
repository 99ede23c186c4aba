using TorchSharp;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Training;

/// <summary>
/// libtorch's multi-tensor optimizer kernels, which TorchSharp does not bind: the fused AdamW that
/// PyTorch's <c>AdamW(fused=True)</c> runs, and the foreach norm and scaling behind its
/// <c>clip_grad_norm_</c>. They are reached through a few lines of TorchScript compiled once, so an
/// optimizer step is a handful of kernel launches for all parameters together, and nothing in it
/// reads a value back to the host.
/// </summary>
static class ForeachKernels
{
    // Our own TorchScript; the ops are libtorch's (aten::_fused_adamw_, aten::_foreach_norm,
    // aten::_foreach_mul_). The step tensor is shared by every parameter of a call: the kernel only
    // reads it, and the caller fills it once per step. The parser needs the script to end with
    // a newline (a raw string literal has none after its last line).
    const string Script = """
        def adamw(params: List[Tensor], grads: List[Tensor], exp_avgs: List[Tensor], exp_avg_sqs: List[Tensor], step: Tensor, lr: float, beta1: float, beta2: float, weight_decay: float, eps: float):
            torch._fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, [], [step] * len(params), lr=lr, beta1=beta1, beta2=beta2, weight_decay=weight_decay, eps=eps, amsgrad=False, maximize=False)

        def grad_norm(grads: List[Tensor]) -> Tensor:
            norms = torch._foreach_norm(grads, 2.0)
            return torch.stack([n.float() for n in norms]).norm(2.0)

        def scale_to_norm(grads: List[Tensor], total: Tensor, max_norm: float):
            coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
            torch._foreach_mul_(grads, coef)
        """;

    static readonly Lazy<jit.CompilationUnit> Unit = new(() => jit.compile(Script + "\n"));

    /// <summary>One AdamW update of tensors that share a device and dtype, in place: parameters,
    /// both moments and nothing else; <paramref name="step"/> is a float32 scalar tensor on their
    /// device holding the 1-based step (for the bias corrections).</summary>
    public static void AdamW(Tensor[] parameters, Tensor[] grads, Tensor[] expAvgs, Tensor[] expAvgSqs, Tensor step,
        double lr, double beta1, double beta2, double weightDecay, double eps)
    {
        if (parameters.Length == 0) return;
        using var noGrad = torch.no_grad();
        // Numbers go in as scalars owned here until the call returns: TorchSharp turns a double
        // argument into a temporary scalar that the GC may free while the call still reads it
        // (Modules.Scalars; a quickstart run crashed on it, OptimizerStressTests reproduces it).
        using Scalar lrValue = lr.ToScalar(), beta1Value = beta1.ToScalar(), beta2Value = beta2.ToScalar(),
            decayValue = weightDecay.ToScalar(), epsValue = eps.ToScalar();
        Unit.Value.invoke("adamw", parameters, grads, expAvgs, expAvgSqs, step, lrValue, beta1Value, beta2Value, decayValue, epsValue);
    }

    /// <summary>The L2 norm of all <paramref name="grads"/> together, as a float32 scalar tensor on
    /// their device (not read back).</summary>
    public static Tensor GradNorm(Tensor[] grads)
    {
        using var noGrad = torch.no_grad();
        return Unit.Value.invoke<Tensor>("grad_norm", (object)grads);
    }

    /// <summary>Scales <paramref name="grads"/> in place so their norm is at most
    /// <paramref name="maxNorm"/>, given their <paramref name="total"/> norm (on the device).</summary>
    public static void ScaleToNorm(Tensor[] grads, Tensor total, double maxNorm)
    {
        using var noGrad = torch.no_grad();
        using Scalar maxNormValue = maxNorm.ToScalar(); // owned through the call, as in AdamW
        Unit.Value.invoke("scale_to_norm", grads, total, maxNormValue);
    }
}
