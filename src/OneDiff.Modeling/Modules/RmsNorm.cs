using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Modules;

#pragma warning disable IDE1006 // field names are the checkpoint's parameter names

/// <summary>RMSNorm computed in fp32 whatever the input dtype (as Hugging Face's LlamaRMSNorm),
/// then scaled by the weight in the input dtype. On CUDA it runs libtorch's <c>rms_norm</c>, one
/// fused kernel (forward and backward) instead of eight element-wise passes, several of them over
/// an fp32 copy; see <see cref="KernelChoices.FusedRmsNorm"/>.</summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    // TorchSharp does not bind rms_norm; one line of TorchScript reaches it (as Training/ForeachKernels).
    const string Script = """
        def rms_norm(x: Tensor, weight: Tensor, eps: float) -> Tensor:
            return torch.rms_norm(x, [x.size(-1)], weight, eps)
        """;
    static readonly Lazy<jit.CompilationUnit> Kernels = new(() => jit.compile(Script + "\n"));

    readonly double _eps;
    public readonly Parameter weight;

    public RmsNorm(int size, double eps) : base(nameof(RmsNorm))
    {
        _eps = eps;
        weight = new Parameter(torch.ones(size));
        RegisterComponents();
    }

    /// <summary>Whether <paramref name="x"/> is normalised by the fused kernel (<see cref="KernelChoices.FusedRmsNorm"/>).</summary>
    internal static bool Fused(Tensor x) => KernelChoices.FusedRmsNorm ?? x.device_type == DeviceType.CUDA;

    internal double Eps => _eps;

    public override Tensor forward(Tensor x)
    {
        if (Fused(x))
            return Kernels.Value.invoke<Tensor>("rms_norm", x, weight, Scalars.Of(_eps));
        using var scope = torch.NewDisposeScope();
        // The dtype checks are free; a .to() that changes nothing is still a native call (a few
        // microseconds, per norm, per layer, per generated token).
        var h = x.dtype == ScalarType.Float32 ? x : x.to(ScalarType.Float32);
        h = h * torch.rsqrt(h.pow(Scalars.Of(2L)).mean([-1L], keepdim: true).add(Scalars.Of(_eps), Scalars.One));
        return (weight * (h.dtype == x.dtype ? h : h.to(x.dtype))).MoveToOuterDisposeScope();
    }
}
