using TorchSharp;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Modules;

/// <summary>
/// Additive attention masks. Masked entries hold the dtype's most negative finite value rather
/// than -inf (as Hugging Face does), so a fully masked row (a left-padding query) gives a uniform
/// softmax instead of NaN.
/// </summary>
public static class Masks
{
    public static double MinValue(ScalarType dtype) => dtype switch
    {
        ScalarType.Float16 => -65504.0,
        ScalarType.BFloat16 => -3.3895313892515355e38,
        ScalarType.Float64 => double.MinValue,
        _ => float.MinValue,
    };

    /// <summary>An additive mask from a boolean "may attend" tensor.</summary>
    public static Tensor Additive(Tensor allowed, ScalarType dtype)
    {
        using var scope = torch.NewDisposeScope();
        return torch.zeros(allowed.shape, dtype, allowed.device).masked_fill(allowed.logical_not(), Scalars.Of(MinValue(dtype))).MoveToOuterDisposeScope();
    }

    /// <summary>(queries, keys) boolean causal pattern: query i sees keys up to i + (keys - queries).</summary>
    public static Tensor CausalAllowed(long queries, long keys, Device device) =>
        torch.ones(queries, keys, ScalarType.Bool, device).tril(keys - queries);

    /// <summary>(B, 1, queries, keys) additive mask of a decoder: causal and not padding, from a
    /// (B, keys) 1/0 attention mask over everything attended so far.</summary>
    public static Tensor Decoder(Tensor attentionMask, long queries, ScalarType dtype)
    {
        using var scope = torch.NewDisposeScope();
        long keys = attentionMask.shape[1];
        var allowed = CausalAllowed(queries, keys, attentionMask.device).unsqueeze(0).unsqueeze(0)
            .logical_and(attentionMask.to(ScalarType.Bool).unsqueeze(1).unsqueeze(1));
        return Additive(allowed, dtype).MoveToOuterDisposeScope();
    }

    /// <summary>(queries, keys) causal mask: query i sees keys up to i + (keys - queries).</summary>
    public static Tensor Causal(long queries, long keys, ScalarType dtype, Device device)
    {
        using var scope = torch.NewDisposeScope();
        var allowed = torch.ones(queries, keys, ScalarType.Bool, device).tril(keys - queries);
        return torch.zeros(queries, keys, dtype, device).masked_fill(allowed.logical_not(), Scalars.Of(MinValue(dtype))).MoveToOuterDisposeScope();
    }

    /// <summary>(B, 1, 1, keys) mask from a (B, keys) 1/0 attention mask.</summary>
    public static Tensor Padding(Tensor attentionMask, ScalarType dtype)
    {
        using var scope = torch.NewDisposeScope();
        var keep = attentionMask.to(ScalarType.Bool).unsqueeze(1).unsqueeze(1);
        return torch.zeros(keep.shape, dtype, attentionMask.device).masked_fill(keep.logical_not(), Scalars.Of(MinValue(dtype))).MoveToOuterDisposeScope();
    }
}
