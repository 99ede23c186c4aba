using OneDiff.Modeling.Modules;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Tests;

public class RotaryEmbeddingTests
{
    /// <summary>Hugging Face's apply_rotary_pos_emb, written out: emb = [freqs, freqs],
    /// x * cos(emb) + rotate_half(x) * sin(emb), with rotate_half(x) = [-x2, x1].</summary>
    static Tensor HuggingFace(Tensor x, Tensor positions, double theta, ScalarType dtype)
    {
        long dim = x.shape[^1], half = dim / 2;
        var invFreq = torch.pow(torch.tensor(theta), torch.arange(0, dim, 2, ScalarType.Int64).to(ScalarType.Float32) / dim).reciprocal();
        var freqs = positions.to(ScalarType.Float32).unsqueeze(-1) * invFreq.view(1, 1, -1);
        var emb = torch.cat([freqs, freqs], -1);
        var cos = emb.cos().to(dtype).unsqueeze(1);
        var sin = emb.sin().to(dtype).unsqueeze(1);
        var rotated = torch.cat([-x.narrow(-1, half, half), x.narrow(-1, 0, half)], -1);
        return x * cos + rotated * sin;
    }

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.BFloat16)]
    public void TheRollFormIsHuggingFacesRotationBitForBit(ScalarType dtype)
    {
        Runtime.TorchNativeLoader.EnsureLoaded();
        torch.manual_seed(11);
        using var scope = torch.NewDisposeScope();
        var x = torch.randn(2, 3, 5, 16).to(dtype);
        var positions = torch.tensor(new long[] { 0, 1, 2, 3, 4, 7, 8, 9, 1000, 4095 }).view(2, 5);
        var rotary = new RotaryEmbedding(16, 10000);
        var (cos, signedSin) = rotary.Compute(positions, dtype);
        var ours = RotaryEmbedding.Apply(x, cos, signedSin);
        var reference = HuggingFace(x, positions, 10000, dtype);
        Assert.Equal(dtype, ours.dtype);
        Assert.True(ours.eq(reference).all().item<bool>(), $"largest difference {(ours - reference).abs().max().to(ScalarType.Float32).item<float>()}");
    }
}
