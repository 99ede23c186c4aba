using OneDiff.Modeling.Generation;
using OneDiff.Modeling.Models.OneDiff;
using OneDiff.Modeling.Prompting;
using OneDiff.Modeling.Tokenization;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Tests;

/// <summary>Sampled decoding (temperature, top-p, seed) and each row's own settings in a batch.</summary>
public class SamplingTests
{
    static (OneDiffModel Model, Tensor Visual, EncodedPrompt[] Batch) Tiny()
    {
        Runtime.TorchNativeLoader.EnsureLoaded();
        torch.manual_seed(11);
        var model = new OneDiffModel(OneDiffConfig.Tiny);
        model.eval();
        var prompts = new PromptEncoder(TextTokenizer.Tiny(), ConversationTemplate.VicunaV1);
        using var noGrad = torch.no_grad();
        var visual = model.EncodePair(torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64));
        // Different lengths: the batch is left padded, alone each row is not.
        var batch = new[] { prompts.Encode("What changed?", ""), prompts.Encode("Describe every difference between the two images.", "") };
        return (model, visual, batch);
    }

    static long[][] Generate(OneDiffModel model, Tensor visual, IReadOnlyList<EncodedPrompt> batch, params RowDecoding[] rows)
    {
        using var noGrad = torch.no_grad();
        return model.Generate(visual, batch, new GenerationOptions { MaxNewTokens = 12, PadTokenId = 0, Rows = rows });
    }

    [Fact]
    public void TemperatureZeroIsGreedy()
    {
        var (model, visual, batch) = Tiny();
        using var noGrad = torch.no_grad();
        var greedy = model.Generate(visual, batch, new GenerationOptions { MaxNewTokens = 12 });
        Assert.Equal(greedy, Generate(model, visual, batch, new RowDecoding(), new RowDecoding { Seed = 5 }));
    }

    [Fact]
    public void ASeedGivesTheSameTokensAloneAndInAnyBatch()
    {
        var (model, visual, batch) = Tiny();
        var sampled = new RowDecoding { Temperature = 1.0, Seed = 42 };
        var together = Generate(model, visual, batch, sampled, new RowDecoding { Temperature = 0.7, Seed = 9 });
        Assert.Equal(together, Generate(model, visual, batch, sampled, new RowDecoding { Temperature = 0.7, Seed = 9 }));
        using var first = visual.narrow(0, 0, 1);
        Assert.Equal(together[0].Take(Generate(model, first, [batch[0]], sampled)[0].Length), Generate(model, first, [batch[0]], sampled)[0]);
        // Next to a greedy row instead of a sampled one: the same draws.
        Assert.Equal(together[0], Generate(model, visual, batch, sampled, new RowDecoding())[0]);
        // An untrained model's next-token distribution is broad: other seeds give other tokens.
        var others = Enumerable.Range(100, 4).Select(s => Generate(model, first, [batch[0]], sampled with { Seed = (ulong)s })[0]).ToList();
        Assert.Contains(others, o => !o.SequenceEqual(together[0].Take(o.Length)));
    }

    [Fact]
    public void ATinyTopPLeavesOnlyTheMostLikelyToken()
    {
        var (model, visual, batch) = Tiny();
        using var noGrad = torch.no_grad();
        var greedy = model.Generate(visual, batch, new GenerationOptions { MaxNewTokens = 12, PadTokenId = 0 });
        var nucleus = new RowDecoding { Temperature = 1.5, TopP = 1e-6, Seed = 3 };
        Assert.Equal(greedy, Generate(model, visual, batch, nucleus, nucleus with { Seed = 4 }));
    }

    [Fact]
    public void EachRowStopsAtItsOwnLimitOrWhenItsCallbackSaysSo()
    {
        var (model, visual, batch) = Tiny();
        using var noGrad = torch.no_grad();
        var free = model.Generate(visual, batch, new GenerationOptions { MaxNewTokens = 12, PadTokenId = 0 });
        var seen = new List<long[]>();
        var rows = Generate(model, visual, batch,
            new RowDecoding { MaxNewTokens = 3 },
            new RowDecoding { OnTokens = t => { seen.Add(t.ToArray()); return t.Count == 5; } });
        Assert.Equal(free[0].Take(3), rows[0].Take(3));
        Assert.Equal(free[1].Take(5), rows[1].Take(5));
        Assert.Equal(5, rows.Max(r => r.Length));
        Assert.All(rows[0].Skip(3), t => Assert.Equal(0L, t));
        // One call per token on the CPU, each with the tokens so far; none after the row ended.
        Assert.Equal(Enumerable.Range(1, 5), seen.Select(s => s.Length));
        Assert.Equal(free[1].Take(5), seen[^1]);
    }

    [Fact]
    public void DrawsFollowTheTemperatureAndTopPDistribution()
    {
        Runtime.TorchNativeLoader.EnsureLoaded();
        const int rows = 6000;
        var p = new[] { 0.5, 0.3, 0.2 };
        using var logits = torch.tensor(p.Select(x => (float)Math.Log(x)).ToArray()).unsqueeze(0).expand(rows, 3).contiguous();
        double[] Frequencies(double temperature, double topP)
        {
            var sampler = new TokenSampler(Enumerable.Range(0, rows).Select(i => new RowDecoding { Temperature = temperature, TopP = topP, Seed = (ulong)i * 7919 }).ToList(), torch.CPU);
            using var drawn = sampler.Next(logits);
            var tokens = drawn.data<long>().ToArray();
            return Enumerable.Range(0, 3).Select(k => tokens.Count(t => t == k) / (double)rows).ToArray();
        }
        static void Near(double[] expected, double[] actual)
        {
            for (int k = 0; k < expected.Length; k++) Assert.InRange(actual[k], expected[k] - 0.025, expected[k] + 0.025);
        }
        Near(p, Frequencies(1.0, 1.0));
        // Top-p 0.6: the mass before the third token is 0.8, so only the first two remain, renormalised.
        Near([0.625, 0.375, 0], Frequencies(1.0, 0.6));
        // Temperature 2: probabilities proportional to p^(1/2).
        var flat = p.Select(x => Math.Sqrt(x)).ToArray();
        Near(flat.Select(x => x / flat.Sum()).ToArray(), Frequencies(2.0, 1.0));
    }
}
