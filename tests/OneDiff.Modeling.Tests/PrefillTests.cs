using OneDiff.Modeling.Models.Llama;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Tests;

/// <summary>The prefill before decoding asks for the last position only: the last layer then
/// attends from that position alone and runs its feed-forward for it, and every layer's keys and
/// values still reach the cache. The result and the decoding after it equal the full pass's.</summary>
public class PrefillTests
{
    static readonly LlamaConfig Config = new(97, 32, 48, 3, 4, 2, 8, 1e-6, 10000, 256, true, false, false, false, null, 1, null);

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, true)]
    [InlineData(true, false)]
    public void TheLastPositionAloneEqualsTheFullPassAndFillsTheSameCache(bool padded, bool fusedProjections)
    {
        Runtime.TorchNativeLoader.EnsureLoaded();
        torch.manual_seed(5);
        using var scope = torch.NewDisposeScope();
        using var model = new LlamaForCausalLM(Config);
        using (torch.no_grad())
            foreach (var p in model.parameters()) p.normal_(0, 0.2);
        model.eval();
        Modules.KernelChoices.FusedProjections = fusedProjections;
        try
        {
            using var noGrad = torch.no_grad();
            const int b = 3, t = 9;
            var embeds = torch.randn(b, t, 32);
            Tensor? mask = null, positions = null;
            if (padded)
            {
                // Left padding of 3, 1 and 0 positions; positions count each row's own tokens.
                mask = torch.ones(b, t, dtype: ScalarType.Int64);
                mask[0, ..3] = torch.tensor(0L);
                mask[1, ..1] = torch.tensor(0L);
                positions = (mask.cumsum(1) - 1).clamp_min(0);
            }
            using var fullCache = model.NewCache(b, t + 1, ScalarType.Float32, torch.CPU);
            using var lastCache = model.NewCache(b, t + 1, ScalarType.Float32, torch.CPU);
            var full = model.Hidden(embeds, mask, positions, fullCache);
            var last = model.Hidden(embeds, mask, positions, lastCache, lastPositionOnly: true);
            Assert.Equal(new long[] { b, 1, 32 }, last.shape);
            HfParityTests.Close(last, full.narrow(1, t - 1, 1), "last position", 1e-5);

            // One decoding step from each cache: the same logits.
            var next = torch.randn(b, 1, 32);
            var nextMask = mask is null ? null : torch.cat([mask, torch.ones(b, 1, dtype: ScalarType.Int64)], 1);
            var nextPosition = positions is null ? null : positions.narrow(1, t - 1, 1) + 1;
            HfParityTests.Close(model.forward(next, nextMask, nextPosition, lastCache), model.forward(next, nextMask, nextPosition, fullCache), "next step's logits", 1e-5);
        }
        finally { Modules.KernelChoices.FusedProjections = true; }
    }
}
