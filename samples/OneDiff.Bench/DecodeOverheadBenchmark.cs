using System.Diagnostics;
using System.Text.Json;
using OneDiff.Modeling.Generation;
using OneDiff.Modeling.Models.Llama;
using OneDiff.Modeling.Modules;
using TorchSharp;
using static TorchSharp.torch;
using static OneDiff.Bench.BenchArgs;

namespace OneDiff.Bench;

/// <summary>
/// The host's cost of one decoder layer per generated token: a 32-layer LLaMA so narrow (hidden
/// 32) that its arithmetic is negligible, greedy-decoding on one CPU thread, so the time is what
/// TorchSharp and libtorch spend per operation. On a GPU this cost is paid per token on the host
/// while the card waits or runs ahead; it decides whether batched decoding keeps the GPU busy.
/// </summary>
static class DecodeOverheadBenchmark
{
    public static int Run(string[] args)
    {
        int layers = int.Parse(Arg(args, "--layers") ?? "32"), tokens = int.Parse(Arg(args, "--tokens") ?? "128");
        int repeats = int.Parse(Arg(args, "--repeats") ?? "7");
        // Wider models, several rows and a longer prefix turn it into a decoding benchmark with
        // arithmetic (e.g. grouped-query attention: --kv-heads below --heads).
        int hidden = int.Parse(Arg(args, "--hidden") ?? "32"), heads = int.Parse(Arg(args, "--heads") ?? "4");
        int kvHeads = int.Parse(Arg(args, "--kv-heads") ?? heads.ToString()), batch = int.Parse(Arg(args, "--batch") ?? "1");
        int prefixLength = int.Parse(Arg(args, "--prefix") ?? "16"), headDim = hidden / heads;
        OneDiff.Modeling.Runtime.TorchNativeLoader.EnsureLoaded();
        torch.set_num_threads(1);
        var config = new LlamaConfig(1000, hidden, 2 * hidden, layers, heads, kvHeads, headDim, 1e-5, 10000, 4096, false, false, false, false, 1, 2, 0);
        torch.manual_seed(0);
        using var lm = new LlamaForCausalLM(config);
        lm.eval();
        using var noGrad = torch.no_grad();
        using var prefix = lm.Embed(torch.randint(3, 1000, [batch, prefixLength]));
        var options = new GenerationOptions { MaxNewTokens = tokens };

        double Median(Func<double> measure)
        {
            for (int i = 0; i < 2; i++) measure();
            var xs = Enumerable.Range(0, repeats).Select(_ => measure()).Order().ToList();
            return Math.Round(xs[xs.Count / 2], 1);
        }
        double perLayerToken = Median(() =>
        {
            var sw = Stopwatch.StartNew();
            CaptionDecoder.Generate(lm, prefix, null, options);
            return sw.Elapsed.TotalMicroseconds / tokens / layers;
        });

        // The parts of one layer, called directly (one token, no cache).
        var layer = lm.model.layers[0];
        using var x = torch.randn(1, 1, hidden);
        using var q = torch.randn(1, heads, 1, headDim);
        var rotary = new RotaryEmbedding(headDim, 10000);
        using var position = torch.zeros(1, 1, dtype: ScalarType.Int64);
        var (cos, sin) = rotary.Compute(position, ScalarType.Float32);
        double Part(Func<Tensor> f) => Median(() =>
        {
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < 2000; i++) { using var scope = torch.NewDisposeScope(); f(); }
            return sw.Elapsed.TotalMicroseconds / 2000;
        });
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            what = "decode_overhead", layers, tokens, hidden, heads, kv_heads = kvHeads, batch, prefix = prefixLength, us_per_layer_token = perLayerToken,
            us_rms_norm = Part(() => layer.input_layernorm.forward(x)),
            us_rotary_apply = Part(() => RotaryEmbedding.Apply(q, cos, sin)),
            us_attention_no_cache = Part(() => layer.self_attn.forward(x, cos, sin, null, false, null)),
            us_mlp = Part(() => layer.mlp.forward(x)),
            us_layer_no_cache = Part(() => layer.forward(x, cos, sin, null, false, null)),
        }));
        cos.Dispose(); sin.Dispose();
        return 0;
    }
}
