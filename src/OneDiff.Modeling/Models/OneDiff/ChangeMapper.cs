using OneDiff.Modeling.Prompting;
using TorchSharp;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Models.OneDiff;

/// <summary>How a change map is read from the trained model, with no retraining.</summary>
public enum ChangeMapMethod
{
    /// <summary>Gradient times input: how much each patch's vision features (the projector's input
    /// and the delta module's levels) move the caption's log-probability. Works with either pair
    /// fusion, and tells before from after under both (their features are separate inputs).</summary>
    GradientTimesInput,
    /// <summary>The delta tokens' cross-attention over each image's patches, averaged over tokens,
    /// heads, blocks and levels. Before and after apart under both fusions (the delta module always
    /// reads the two images as separate maps).</summary>
    DeltaAttention,
}

/// <summary>
/// Where in each image the model found what it says: a before and an after map over the vision
/// tower's patch grid for each pair and its caption. The maps are non-negative and not
/// normalised; row-major, <see cref="OneDiffConfig.PatchesPerImage"/> values each.
/// </summary>
public static class ChangeMapper
{
    /// <param name="model">the trained model (in eval mode).</param>
    /// <param name="pixelsA">(B, 3, S, S) before images, preprocessed.</param>
    /// <param name="pixelsB">the after images.</param>
    /// <param name="captioned">each pair's prompt with its caption's token ids as the answer.</param>
    /// <param name="method">which reading.</param>
    public static (float[] Before, float[] After)[] Compute(OneDiffModel model, Tensor pixelsA, Tensor pixelsB, IReadOnlyList<EncodedPrompt> captioned, ChangeMapMethod method)
    {
        using var scope = torch.NewDisposeScope();
        long b = pixelsA.shape[0];
        if (captioned.Count != b) throw new ArgumentException($"{b} pairs need {b} captions, not {captioned.Count}", nameof(captioned));
        using var both = model.EncodeVision(torch.cat([pixelsA, pixelsB], 0));
        var (before, after) = method switch
        {
            ChangeMapMethod.GradientTimesInput => GradientTimesInput(model, both.Slice(0, b), both.Slice(b, b), captioned),
            ChangeMapMethod.DeltaAttention => DeltaAttention(model, both.Slice(0, b), both.Slice(b, b)),
            _ => throw new ArgumentOutOfRangeException(nameof(method)),
        };
        var beforeRows = before.to(ScalarType.Float32).cpu().data<float>().ToArray();
        var afterRows = after.to(ScalarType.Float32).cpu().data<float>().ToArray();
        int p = model.Config.PatchesPerImage;
        return Enumerable.Range(0, (int)b).Select(i => (beforeRows[(i * p)..((i + 1) * p)], afterRows[(i * p)..((i + 1) * p)])).ToArray();
    }

    /// <summary>(B, P) per image: |sum over channels of gradient x feature|, summed over every
    /// feature tensor the patch enters (the projector's patch features and each delta level).</summary>
    static (Tensor Before, Tensor After) GradientTimesInput(OneDiffModel model, OneDiffModel.VisionFeatures a, OneDiffModel.VisionFeatures b, IReadOnlyList<EncodedPrompt> captioned)
    {
        using var enableGrad = torch.enable_grad();
        static OneDiffModel.VisionFeatures Leaves(OneDiffModel.VisionFeatures f) =>
            new(f.Levels.Select(l => l.detach().clone().requires_grad_(true)).ToArray(), f.Patches.detach().clone().requires_grad_(true));
        var leafA = Leaves(a);
        var leafB = Leaves(b);
        var visual = model.EncodePair(leafA, leafB);
        // The caption's mean negative log-likelihood; rows do not interact, so each pair's inputs
        // get the gradient of its own caption (scaled alike).
        var loss = model.Loss(visual, captioned);
        var inputs = leafA.Levels.Append(leafA.Patches).Concat(leafB.Levels).Append(leafB.Patches).ToList();
        var grads = torch.autograd.grad([loss], inputs, allow_unused: true);
        int levels = leafA.Levels.Length, p = model.Config.PatchesPerImage;
        Tensor Score(int offset)
        {
            Tensor? total = null;
            for (int k = 0; k <= levels; k++)
            {
                var x = inputs[offset + k];
                if (grads[offset + k] is not { } g || g.IsInvalid) continue;
                // Hidden states carry CLS first; patch features do not.
                var contribution = g.mul(x).sum(-1).to(ScalarType.Float32);
                if (contribution.shape[1] == p + 1) contribution = contribution.narrow(1, 1, p);
                total = total is null ? contribution.abs() : total.add(contribution.abs());
            }
            return total!.detach();
        }
        return (Score(0), Score(levels + 1));
    }

    /// <summary>(B, P) per image: the delta tokens' cross-attention weight on each patch.</summary>
    static (Tensor Before, Tensor After) DeltaAttention(OneDiffModel model, OneDiffModel.VisionFeatures a, OneDiffModel.VisionFeatures b)
    {
        var cross = model.delta_module.qformer.encoder.layer.Where(l => l.HasCrossAttention).Select(l => l.crossattention!.attention).ToList();
        int levels = a.Levels.Length, p = model.Config.PatchesPerImage, tokens = p + 1;
        try
        {
            foreach (var c in cross) c.RecordAttention = true;
            using (torch.no_grad()) model.delta_module.forward(a.Levels, b.Levels).Dispose();
            Tensor? before = null, after = null;
            foreach (var c in cross)
            {
                // (B, S): the weight each key got, averaged over heads and delta tokens.
                var weights = c.Recorded!.mean([1L, 2L]).to(ScalarType.Float32);
                // Keys: [A level 0..L-1][B level 0..L-1] (every level), or [A level k][B level k].
                int perImage = (int)(weights.shape[1] / 2 / tokens);
                Tensor Image(int image) => torch.stack(Enumerable.Range(0, perImage)
                    .Select(l => weights.narrow(1, (image * perImage + l) * tokens + 1, p)).ToArray(), 0).sum(0L);
                var (wa, wb) = (Image(0), Image(1));
                before = before is null ? wa : before.add(wa);
                after = after is null ? wb : after.add(wb);
            }
            return (before!.div(Scalars(cross.Count)), after!.div(Scalars(cross.Count)));
        }
        finally
        {
            foreach (var c in cross) c.RecordAttention = false;
        }
    }

    static Scalar Scalars(int n) => Modules.Scalars.Of((long)n);
}
