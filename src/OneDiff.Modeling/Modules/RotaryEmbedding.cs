using TorchSharp;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Modules;

/// <summary>Rotary position embedding with the checkpoint's base (theta): cos and sin per
/// position, computed in fp32 and cast to the activations' dtype, once per forward pass and shaped
/// so that each layer applies them in four operations.</summary>
public sealed class RotaryEmbedding
{
    readonly double _theta;
    readonly int _dim;
    readonly object _gate = new();
    Tensor? _invFreq; // on the device of the last call: building it copies theta from the host, a sync on CUDA

    public RotaryEmbedding(int headDim, double theta) { _dim = headDim; _theta = theta; }

    /// <returns>cos and the signed sin (its first half negated, see <see cref="Apply"/>), each
    /// (B, 1, T, headDim): broadcast over the heads.</returns>
    public (Tensor Cos, Tensor SignedSin) Compute(Tensor positionIds, ScalarType dtype)
    {
        using var scope = torch.NewDisposeScope();
        var device = positionIds.device;
        var freqs = positionIds.to(ScalarType.Float32).unsqueeze(-1) * InverseFrequencies(device).view(1, 1, -1);
        var sin = freqs.sin();
        var cos = torch.cat([freqs, freqs], -1).cos();
        var signedSin = torch.cat([sin.neg(), sin], -1);
        return (cos.to(dtype).unsqueeze(1).MoveToOuterDisposeScope(), signedSin.to(dtype).unsqueeze(1).MoveToOuterDisposeScope());
    }

    Tensor InverseFrequencies(Device device)
    {
        lock (_gate)
        {
            if (_invFreq is { } cached && cached.device.ToString() == device.ToString()) return cached;
            using var scope = torch.NewDisposeScope();
            var exponents = torch.arange(Scalars.Of(0L), Scalars.Of((long)_dim), Scalars.Of(2L), ScalarType.Int64, device).to(ScalarType.Float32).div(Scalars.Of((long)_dim));
            var invFreq = torch.pow(torch.tensor(_theta, device: device), exponents).reciprocal().DetachFromDisposeScope();
            _invFreq?.Dispose();
            return _invFreq = invFreq;
        }
    }

    /// <summary>x * cos + rotate_half(x) * sin (Hugging Face's form), for x (B, heads, T, headDim) or
    /// (B, T, heads, headDim) with cos and sin laid out to broadcast over it,
    /// written as x * cos + roll(x, half) * signedSin: rotate_half(x) = [-x2, x1] and
    /// roll(x, half) = [x2, x1], so the products are the same numbers, bit for bit (negating is
    /// exact), from 4 operations instead of 9: this runs once or twice per layer and token.</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor signedSin)
    {
        using var scope = torch.NewDisposeScope();
        long half = x.shape[^1] / 2;
        return (x * cos).add(x.roll(half, -1) * signedSin, Scalars.One).MoveToOuterDisposeScope();
    }
}
