using OneDiff.Modeling.Models.Llama;
using OneDiff.Modeling.Modules;
using OneDiff.Modeling.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Tests;

/// <summary>q/k/v and gate/up as one product in inference, their parameters views of one buffer:
/// the same logits as the separate products, through moves, in-place updates and an optimizer
/// step, with the checkpoint's names and gradients for every parameter in training.</summary>
public class FusedProjectionsTests
{
    // Qwen2-like: q/k/v biases and grouped-query attention (4 query heads, 2 key/value heads).
    static readonly LlamaConfig Config = new(97, 32, 48, 2, 4, 2, 8, 1e-6, 10000, 256, true, false, false, false, null, 1, null);

    static LlamaForCausalLM Model()
    {
        Runtime.TorchNativeLoader.EnsureLoaded();
        torch.manual_seed(21);
        var model = new LlamaForCausalLM(Config);
        using (torch.no_grad())
            foreach (var p in model.parameters()) p.normal_(0, 0.2);
        model.eval();
        return model;
    }

    static (Tensor Fused, Tensor Separate) Logits(LlamaForCausalLM model, Tensor ids)
    {
        using var noGrad = torch.no_grad();
        try
        {
            KernelChoices.FusedProjections = true;
            var fused = model.ForwardIds(ids).to(ScalarType.Float32);
            KernelChoices.FusedProjections = false;
            return (fused, model.ForwardIds(ids).to(ScalarType.Float32));
        }
        finally { KernelChoices.FusedProjections = true; }
    }

    static void AssertFused(LlamaForCausalLM model) =>
        Assert.All(model.model.layers, l => Assert.True(l.self_attn.ProjectionsFused && l.mlp.ProjectionsFused, "a layer's projections are not views of one buffer"));

    [Fact]
    public void InferenceGivesTheSeparateProductsLogitsThroughMovesAndInPlaceUpdates()
    {
        using var scope = torch.NewDisposeScope();
        using var model = Model();
        var ids = torch.randint(0, 97, [3, 11]);
        AssertFused(model);
        var (fused, separate) = Logits(model, ids);
        HfParityTests.Close(fused, separate, "logits (fp32)", 1e-6);

        // Every part's slice is in its place: a change to one parameter reaches the fused product.
        var attention = model.model.layers[1].self_attn;
        using (torch.no_grad()) { attention.v_proj.bias!.add_(0.5); attention.k_proj.weight!.mul_(-1); model.model.layers[0].mlp.up_proj.weight!.mul_(0.5); }
        var (fused2, separate2) = Logits(model, ids);
        HfParityTests.Close(fused2, separate2, "logits after in-place updates", 1e-6);
        Assert.True((fused2 - fused).abs().max().item<float>() > 1e-3, "the updates did not change the logits");

        model.to(ScalarType.Float32); // where it already is: nothing moves, nothing is copied
        AssertFused(model);
        HfParityTests.Close(Logits(model, ids).Fused, fused2, "logits after a move to where the model is", 1e-7);
        model.to(ScalarType.BFloat16);
        AssertFused(model);
        var (fused3, separate3) = Logits(model, ids);
        HfParityTests.Close(fused3, separate3, "logits (bf16)", 2e-2);
    }

    [Fact]
    public void TrainingGivesEveryPartItsGradientAndTheOptimizerStepReachesTheFusedProduct()
    {
        using var scope = torch.NewDisposeScope();
        using var model = Model();
        model.train();
        var ids = torch.randint(0, 97, [2, 9]);
        var named = model.named_parameters().ToList();
        Assert.Equal(2 * 9 + 3 + 2 * 3, named.Count); // the checkpoint's names only (q/k/v biases included)
        var loss = model.ForwardIds(ids).square().mean();
        loss.backward();
        foreach (var (name, p) in named)
            Assert.True(p.grad is { } g && g.abs().sum().item<float>() > 0, $"{name} got no gradient");
        using var optimizer = new AdamW([new AdamW.Group("all", 1e-2, named.Select(n => (n.name, n.parameter)).ToList())]);
        var before = Logits(model, ids).Fused;
        optimizer.Update(1.0);
        model.eval();
        AssertFused(model);
        var (fused, separate) = Logits(model, ids);
        HfParityTests.Close(fused, separate, "logits after an AdamW step", 1e-6);
        Assert.True((fused - before).abs().max().item<float>() > 1e-3, "the step did not change the logits");
    }
}
