using OneDiff.Modeling.Generation;
using OneDiff.Modeling.Models.Llama;
using OneDiff.Modeling.Modules;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Tests;

/// <summary>A generated token through the scripted decoder layers (<see cref="KernelChoices.ScriptedDecoding"/>)
/// gives the same numbers, bit for bit, as through the layer modules: logits of every step and the
/// cache they leave, for LLaMA and Qwen2 layouts, grouped and plain attention, left padding, both
/// RMSNorm forms and bf16; and where the script cannot apply (LoRA attached) the layers run.</summary>
public class ScriptedDecodingTests
{
    static LlamaConfig Config(int kvHeads, bool qkvBias) =>
        new(97, 32, 48, 3, 4, kvHeads, 8, 1e-6, 10000, 256, qkvBias, false, false, false, null, 1, null, ModelType: qkvBias ? "qwen2" : "llama");

    [Theory]
    [InlineData(2, false, false, null, false)] // grouped queries, LLaMA, no padding, the CPU's element-wise norm
    [InlineData(4, false, true, null, false)]  // plain attention, left padding
    [InlineData(2, true, true, null, false)]   // Qwen2: q/k/v biases
    [InlineData(2, false, true, true, false)]  // the fused norm
    [InlineData(4, true, true, null, true)]    // bf16
    [InlineData(2, false, true, true, true)]   // bf16, fused norm
    [InlineData(2, true, true, null, true)]    // bf16 with biases (added after the product, as the layers do)
    [InlineData(4, true, false, true, true)]   // bf16, biases, fused norm, no padding
    public void ScriptedStepsEqualTheLayersBitForBit(int kvHeads, bool qkvBias, bool padded, bool? fusedNorm, bool bf16)
    {
        Runtime.TorchNativeLoader.EnsureLoaded();
        var dtype = bf16 ? ScalarType.BFloat16 : ScalarType.Float32;
        torch.manual_seed(11);
        using var scope = torch.NewDisposeScope();
        using var model = new LlamaForCausalLM(Config(kvHeads, qkvBias));
        using (torch.no_grad())
            foreach (var p in model.parameters()) p.normal_(0, 0.2);
        model.to(dtype);
        model.eval();
        const int b = 3, t = 7, steps = 5;
        var embeds = torch.randn(b, t, 32).to(dtype);
        var tokens = torch.randint(2, 97, [steps, b], dtype: ScalarType.Int64);
        Tensor? mask = null;
        if (padded)
        {
            mask = torch.ones(b, t, dtype: ScalarType.Int64);
            mask[0, ..3] = torch.tensor(0L);
            mask[2, ..1] = torch.tensor(0L);
        }
        KernelChoices.FusedRmsNorm = fusedNorm;
        try
        {
            Assert.True(model.model.DecodesScripted, "the script applies to this model");
            var (scriptedLogits, scriptedKeys) = Decode(model, embeds, mask, tokens, scripted: true, dtype);
            var (layerLogits, layerKeys) = Decode(model, embeds, mask, tokens, scripted: false, dtype);
            for (int s = 0; s < steps; s++)
                Assert.True(scriptedLogits[s].equal(layerLogits[s]).all().item<bool>(), $"step {s}: logits differ by up to {(scriptedLogits[s].to(ScalarType.Float32) - layerLogits[s].to(ScalarType.Float32)).abs().max().item<float>()}");
            for (int l = 0; l < scriptedKeys.Length; l++)
                Assert.True(scriptedKeys[l].equal(layerKeys[l]).all().item<bool>(), $"layer {l}: cached keys differ");
        }
        finally { KernelChoices.FusedRmsNorm = null; KernelChoices.ScriptedDecoding = true; }
    }

    /// <summary>Prefill, then <paramref name="tokens"/> one step at a time, as greedy decoding feeds them.</summary>
    static (Tensor[] Logits, Tensor[] Keys) Decode(LlamaForCausalLM model, Tensor embeds, Tensor? mask, Tensor tokens, bool scripted, ScalarType dtype)
    {
        using var noGrad = torch.no_grad();
        long b = embeds.shape[0], t = embeds.shape[1];
        int steps = (int)tokens.shape[0];
        using var cache = model.NewCache(b, (int)t + steps, dtype, torch.CPU);
        Tensor? positions = mask is null ? null : (mask.cumsum(1) - 1).clamp_min(0);
        KernelChoices.ScriptedDecoding = scripted;
        model.Hidden(embeds, mask, positions, cache, lastPositionOnly: true);
        var logits = new Tensor[steps];
        var fullMask = mask;
        for (int s = 0; s < steps; s++)
        {
            fullMask = fullMask is null ? null : torch.cat([fullMask, torch.ones(b, 1, dtype: ScalarType.Int64)], 1);
            var position = positions is null ? null : positions.narrow(1, t - 1, 1) + (s + 1);
            logits[s] = model.forward(model.Embed(tokens[s].unsqueeze(1)), fullMask, position, cache);
        }
        var keys = cache.KeyBuffers.Select(k => k.clone()).ToArray();
        return (logits, keys);
    }

    [Fact]
    public void WithLoraAttachedTheLayersRunAndTheAdaptersCount()
    {
        Runtime.TorchNativeLoader.EnsureLoaded();
        torch.manual_seed(12);
        using var scope = torch.NewDisposeScope();
        using var model = new LlamaForCausalLM(Config(2, false));
        using (torch.no_grad())
            foreach (var p in model.parameters()) p.normal_(0, 0.2);
        model.eval();
        var prefix = torch.randn(2, 5, 32);
        var options = new GenerationOptions { MaxNewTokens = 6, PadTokenId = 0, StopCheckInterval = 1 };
        var baseTokens = CaptionDecoder.Generate(model, prefix, null, options);
        model.model.AttachLora(new LoraConfig { Rank = 2, Alpha = 4 });
        // Adapters that change the output (lora_B starts at zero).
        using (torch.no_grad())
            foreach (var (_, adapter) in model.model.LoraAdapters())
                foreach (var p in adapter.parameters()) p.normal_(0, 0.3);
        model.eval();
        try
        {
            KernelChoices.ScriptedDecoding = false;
            var layers = CaptionDecoder.Generate(model, prefix, null, options);
            KernelChoices.ScriptedDecoding = true;
            Assert.False(model.model.DecodesScripted, "not with adapters attached");
            var scripted = CaptionDecoder.Generate(model, prefix, null, options);
            Assert.Equal(layers, scripted);
            Assert.NotEqual(baseTokens, layers); // the adapters change the tokens: a script that skipped them would show
            // Merged into the weights (the script then runs): the same tokens.
            model.model.MergeLora();
            Assert.True(model.model.DecodesScripted);
            Assert.Equal(layers, CaptionDecoder.Generate(model, prefix, null, options));
        }
        finally { KernelChoices.ScriptedDecoding = true; }
    }
}
