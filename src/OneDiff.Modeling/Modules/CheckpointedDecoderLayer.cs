using TorchSharp;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Modules;

/// <summary>
/// Activation checkpointing for a <see cref="LlamaDecoderLayer"/> (TorchSharp has no
/// torch.utils.checkpoint): the forward runs without keeping the layer's activations, and the
/// backward runs the layer again from its saved input and backpropagates through that. The layer's
/// parameters receive their gradients from the inner backward, as PyTorch's reentrant checkpoint
/// does. The recomputation is exact: the layer has no randomness but LoRA dropout, whose masks are
/// seeded per micro-batch (<see cref="LoraAdapter.DropoutSeed"/>) and so drawn the same twice.
/// </summary>
public sealed class CheckpointedDecoderLayer : autograd.MultiTensorFunction<CheckpointedDecoderLayer>
{
    public override string Name => nameof(CheckpointedDecoderLayer);

    // The input gradient handed to the autograd engine: libtorch takes its own reference once the
    // backward returns, so the wrapper is disposed at this thread's next call (by then that return
    // is complete) instead of by the finalizer, which would keep a layer-sized buffer alive until
    // a collection.
    [ThreadStatic] static Tensor? t_handedOver;

    /// <summary>The layer's output; saves only its input (and the shared rotary/mask tensors).</summary>
    public static Tensor Apply(LlamaDecoderLayer layer, Tensor x, Tensor cos, Tensor sin, Tensor? mask, bool causal) =>
        apply(layer, x, cos, sin, mask, causal)[0];

    public override List<Tensor> forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (layer, x, cos, sin, mask, causal) = Unpack(vars);
        ctx.save_for_backward(mask is null ? [x, cos, sin] : [x, cos, sin, mask]);
        ctx.save_data("layer", layer);
        ctx.save_data("causal", causal);
        // Runs without gradients, as the recomputation will not: same (separate) products in both.
        using var separate = FusedProjections.Suspend();
        return [layer.forward(x, cos, sin, mask, causal, cache: null)];
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, List<Tensor> gradOutputs)
    {
        t_handedOver?.Dispose();
        t_handedOver = null;
        Tensor inputGrad;
        using (var scope = torch.NewDisposeScope())
        {
            var saved = ctx.get_saved_variables();
            var layer = (LlamaDecoderLayer)ctx.get_data("layer");
            bool causal = (bool)ctx.get_data("causal");
            using var enableGrad = torch.enable_grad();
            var x = saved[0].detach().requires_grad_(true);
            var y = layer.forward(x, saved[1], saved[2], saved.Count > 3 ? saved[3] : null, causal, cache: null);
            torch.autograd.backward([y], [gradOutputs[0]]);
            inputGrad = (x.grad ?? torch.zeros_like(x)).DetachFromDisposeScope();
        }
        foreach (var g in gradOutputs) g.Dispose();
        t_handedOver = inputGrad;
        // One gradient per argument of Apply: only the input x gets one.
        return [null!, inputGrad, null!, null!, null!, null!];
    }

    static (LlamaDecoderLayer Layer, Tensor X, Tensor Cos, Tensor Sin, Tensor? Mask, bool Causal) Unpack(object[] vars) =>
        ((LlamaDecoderLayer)vars[0], (Tensor)vars[1], (Tensor)vars[2], (Tensor)vars[3], vars[4] as Tensor, (bool)vars[5]);
}
