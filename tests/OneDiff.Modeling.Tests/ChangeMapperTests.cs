using OneDiff.Modeling.Models.OneDiff;
using OneDiff.Modeling.Prompting;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Tests;

/// <summary>Change maps from a Tiny model: one value per patch for each image, under both pair
/// fusions and both delta readouts, with no gradient left on the weights.</summary>
public class ChangeMapperTests
{
    public static TheoryData<PairFusion, DeltaReadout, ChangeMapMethod> Cases()
    {
        var data = new TheoryData<PairFusion, DeltaReadout, ChangeMapMethod>();
        foreach (var fusion in new[] { PairFusion.Sequence, PairFusion.ChannelConcat })
            foreach (var readout in new[] { DeltaReadout.AllLevels, DeltaReadout.LevelPerBlock })
                foreach (var method in new[] { ChangeMapMethod.GradientTimesInput, ChangeMapMethod.DeltaAttention })
                    data.Add(fusion, readout, method);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void EachImageGetsOneValuePerPatchUnderEveryFusionAndReadout(PairFusion fusion, DeltaReadout readout, ChangeMapMethod method)
    {
        Runtime.TorchNativeLoader.EnsureLoaded();
        torch.manual_seed(3);
        // LevelPerBlock needs one cross-attention block per level: the Tiny delta stack has one.
        var config = OneDiffConfig.Tiny with { Fusion = fusion, Readout = readout, DeltaFeatureLayers = readout == DeltaReadout.LevelPerBlock ? [3] : [1, 2, 3] };
        using var model = new OneDiffModel(config);
        model.eval();
        using var a = torch.randn(2, 3, 64, 64);
        using var b = a.clone();
        // The second pair differs in one patch (row 1, column 2) only.
        b[1, TensorIndex.Colon, TensorIndex.Slice(16, 32), TensorIndex.Slice(32, 48)].add_(2.0);
        var prompts = new[] { new EncodedPrompt([1, 5, 6], [7, 8], [9, 10, 2]), new EncodedPrompt([1, 5, 6], [7, 8], [11, 2]) };

        var maps = ChangeMapper.Compute(model, a, b, prompts, method);

        Assert.Equal(2, maps.Length);
        foreach (var (before, after) in maps)
        {
            Assert.Equal(config.PatchesPerImage, before.Length);
            Assert.Equal(config.PatchesPerImage, after.Length);
            Assert.All(before.Concat(after), v => Assert.True(float.IsFinite(v) && v >= 0));
            Assert.True(before.Sum() > 0 && after.Sum() > 0);
        }
        // The attention probes are off again, and no weight got a gradient.
        Assert.All(model.delta_module.qformer.encoder.layer.Where(l => l.HasCrossAttention), l => Assert.False(l.crossattention!.attention.RecordAttention));
        Assert.All(model.parameters(), p => Assert.True(p.grad is null || p.grad.IsInvalid));
    }
}
