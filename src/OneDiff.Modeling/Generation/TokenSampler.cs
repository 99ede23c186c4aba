using OneDiff.Modeling.Modules;
using TorchSharp;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Generation;

/// <summary>
/// Draws each sampling row's token from its temperature-scaled, top-p-truncated distribution by
/// inverse CDF on the device, with the uniform number from the row's own SplitMix64 stream: a
/// seed gives the same draws whatever the batch. Greedy rows (temperature 0) take the argmax.
/// </summary>
public sealed class TokenSampler(IReadOnlyList<RowDecoding> rows, Device device)
{
    readonly ulong[] _state = rows.Select(r => r.Seed).ToArray();
    readonly float[] _temperature = rows.Select(r => r.Samples ? (float)r.Temperature : 1f).ToArray();
    readonly float[] _topP = rows.Select(r => (float)r.TopP).ToArray();
    readonly bool[] _samples = rows.Select(r => r.Samples).ToArray();

    /// <summary>(B) the next token of each row from (B, vocab) logits.</summary>
    public Tensor Next(Tensor logits)
    {
        using var scope = torch.NewDisposeScope();
        var uniform = new float[_state.Length];
        for (int i = 0; i < uniform.Length; i++) uniform[i] = (float)NextUniform(ref _state[i]);
        var probs = nn.functional.softmax(logits.to(ScalarType.Float32).div(torch.tensor(_temperature, device: device).unsqueeze(1)), -1);
        var (sorted, order) = probs.sort(-1, descending: true);
        var cumulative = sorted.cumsum(-1);
        // Keep a token while the mass before it is under top_p (the first is always kept).
        var kept = sorted.masked_fill(cumulative.sub(sorted).ge(torch.tensor(_topP, device: device).unsqueeze(1)), Scalars.Of(0f));
        var keptCumulative = kept.cumsum(-1);
        var target = torch.tensor(uniform, device: device).unsqueeze(1).mul(keptCumulative.narrow(1, -1, 1));
        var index = keptCumulative.lt(target).sum(-1, keepdim: true).clamp_max(Scalars.Of(logits.shape[1] - 1));
        var sampled = order.gather(1, index).squeeze(1);
        var greedy = logits.argmax(-1);
        return torch.where(torch.tensor(_samples, device: device), sampled, greedy).MoveToOuterDisposeScope();
    }

    /// <summary>SplitMix64 (Steele et al. 2014), 53 bits to [0, 1).</summary>
    static double NextUniform(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return ((z ^ (z >> 31)) >> 11) * (1.0 / (1UL << 53));
    }
}
