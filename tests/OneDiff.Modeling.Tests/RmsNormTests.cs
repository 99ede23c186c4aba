using OneDiff.Modeling.Modules;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Tests;

/// <summary>The two forms of RMSNorm (libtorch's rms_norm, used on CUDA, and the element-wise
/// form): the same forward and gradients in fp32, the same forward within one unit of bf16's last
/// place. On this CPU libtorch's rms_norm is reached through the same TorchScript call as on CUDA;
/// the CUDA kernel itself is checked by the HfParity tests on the GPU (docs/gpu.md).</summary>
public class RmsNormTests
{
    static (Tensor Output, Tensor InputGrad, Tensor WeightGrad) Run(RmsNorm norm, Tensor x, Tensor upstream, bool fused)
    {
        var input = x.detach().clone().requires_grad_(true);
        norm.zero_grad();
        KernelChoices.FusedRmsNorm = fused;
        try
        {
            var y = norm.forward(input);
            (y.to(ScalarType.Float32) * upstream).sum().backward();
            return (y.detach(), input.grad!.clone(), norm.weight.grad!.clone());
        }
        finally { KernelChoices.FusedRmsNorm = null; }
    }

    [Fact]
    public void FusedAndElementwiseFormsAgreeInFloat32WithGradients()
    {
        Runtime.TorchNativeLoader.EnsureLoaded();
        torch.manual_seed(3);
        using var scope = torch.NewDisposeScope();
        var norm = new RmsNorm(96, 1e-6);
        using (torch.no_grad()) norm.weight.uniform_(0.5, 1.5);
        var x = torch.randn(2, 7, 96) * 3;
        var upstream = torch.randn(2, 7, 96);
        var a = Run(norm, x, upstream, fused: false);
        var b = Run(norm, x, upstream, fused: true);
        HfParityTests.Close(b.Output, a.Output, "output", 1e-6);
        HfParityTests.Close(b.InputGrad, a.InputGrad, "input gradient", 1e-6);
        HfParityTests.Close(b.WeightGrad, a.WeightGrad, "weight gradient", 1e-6);
    }

    [Fact]
    public void FusedAndElementwiseFormsAgreeInBFloat16WithinOneUnitInTheLastPlace()
    {
        Runtime.TorchNativeLoader.EnsureLoaded();
        torch.manual_seed(4);
        using var scope = torch.NewDisposeScope();
        var norm = new RmsNorm(128, 1e-6);
        using (torch.no_grad()) norm.weight.uniform_(0.5, 1.5);
        norm.to(ScalarType.BFloat16);
        var x = (torch.randn(4, 9, 128) * 2).to(ScalarType.BFloat16);
        var upstream = torch.randn(4, 9, 128);
        var a = Run(norm, x, upstream, fused: false).Output.to(ScalarType.Float32);
        var b = Run(norm, x, upstream, fused: true).Output.to(ScalarType.Float32);
        Assert.Equal(ScalarType.BFloat16, Run(norm, x, upstream, fused: true).Output.dtype);
        // One unit in the last place of bf16 (8 significant bits) at each element's magnitude.
        var ulp = torch.pow(2.0, torch.floor(torch.log2(a.abs().clamp_min(1e-30))) - 7);
        var excess = ((a - b).abs() - ulp).max().item<float>();
        Assert.True(excess <= 0, $"a bf16 output differs by more than one unit in the last place (by {excess} beyond it)");
    }
}
