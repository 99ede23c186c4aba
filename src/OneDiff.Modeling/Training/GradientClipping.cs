using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Training;

/// <summary>
/// Clipping by the total L2 norm of all gradients, as PyTorch's <c>clip_grad_norm_</c> does with
/// its foreach kernels. TorchSharp's own binding returns the norm as a number, which waits for the
/// GPU every step; this one leaves the norm on the device.
/// </summary>
public static class GradientClipping
{
    /// <summary>Scales the gradients of <paramref name="parameters"/> in place so that their total
    /// norm is at most <paramref name="maxNorm"/>; returns the norm before clipping (a float32
    /// scalar on the device; reading it waits for the device), or null where no gradient exists.</summary>
    public static Tensor? ClipByTotalNorm(IEnumerable<Parameter> parameters, double maxNorm)
    {
        using var scope = torch.NewDisposeScope();
        var grads = parameters.Select(p => p.grad).OfType<Tensor>().ToArray();
        if (grads.Length == 0) return null;
        var total = ForeachKernels.GradNorm(grads);
        ForeachKernels.ScaleToNorm(grads, total, maxNorm);
        return total.MoveToOuterDisposeScope();
    }
}
