using OneDiff.Modeling.Checkpoints;
using OneDiff.Modeling.Models.Clip;
using OneDiff.Tests.Common;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Tests;

/// <summary>
/// Parity with Hugging Face transformers: every folder of the fixture directory (tests/fixtures/
/// hf-reference, or ONEDIFF_HF_FIXTURES) is a case, its family read from config.json.
/// </summary>
[Trait("Category", "HfParity")]
public partial class HfParityTests
{
    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var dir in Directory.GetDirectories(TestPaths.HfFixtures).Order())
            if (File.Exists(Path.Combine(dir, "config.json"))) data.Add(Path.GetFileName(dir));
        return data;
    }

    /// <summary>Device for the parity runs: ONEDIFF_TEST_DEVICE (e.g. cuda on the GPU machine), else the CPU.</summary>
    internal static Device TestDevice => Runtime.DeviceSelector.Resolve(Environment.GetEnvironmentVariable("ONEDIFF_TEST_DEVICE") ?? "cpu").ToTorch();

    [Theory]
    [MemberData(nameof(Cases))]
    public void FixtureMatchesTheReference(string name)
    {
        string dir = Path.Combine(TestPaths.HfFixtures, name);
        var config = HfConfig.Load(dir);
        using var io = SafetensorsFile.Open(Path.Combine(dir, "io.safetensors"));
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        switch (config.ModelType)
        {
            case "clip_vision_model": CheckClipVision(dir, config, io); break;
            case "clip": CheckClip(dir, config, io); break;
            case "blip_2_qformer": CheckQFormer(dir, config, io); break;
            case "bert": CheckBert(dir, config, io); break;
            case "llama" or "qwen2": CheckCausalLm(dir, config, io); break;
            default: throw new InvalidOperationException($"{name}: no parity check for model_type '{config.ModelType}'");
        }
    }

    internal static double RelativeError(Tensor got, Tensor want)
    {
        using var scope = torch.NewDisposeScope();
        var g = got.to(ScalarType.Float64, torch.CPU);
        var w = want.to(ScalarType.Float64, torch.CPU);
        Assert.Equal(w.shape, g.shape);
        return (g - w).norm().item<double>() / Math.Max(w.norm().item<double>(), 1e-30);
    }

    internal static void Close(Tensor got, Tensor want, string what, double tolerance = 1e-4)
    {
        double e = RelativeError(got, want);
        Assert.True(e < tolerance, $"{what}: relative error {e:E3} (limit {tolerance:E0})");
    }

    static T Load<T>(T module, string dir, Func<string, string?>? names = null) where T : nn.Module
    {
        using var checkpoint = SafetensorsCheckpoint.Open(dir);
        checkpoint.LoadInto(module, strict: true, names);
        module.to(TestDevice);
        module.eval();
        return module;
    }

    static void CheckClipVision(string dir, HfConfig config, SafetensorsFile io)
    {
        var model = Load(new ClipVisionTransformer(ClipVisionConfig.FromHf(config)), dir);
        using var output = model.forward(io.Read("pixel_values").to(TestDevice));
        for (int i = 0; i < output.HiddenStates.Length; i++)
            Close(output.HiddenStates[i], io.Read($"hidden_states.{i}"), $"hidden_states.{i}");
        Close(output.LastHiddenState, io.Read("last_hidden_state"), "last_hidden_state");
        Close(output.PoolerOutput, io.Read("pooler_output"), "pooler_output");
    }

    static void CheckClip(string dir, HfConfig config, SafetensorsFile io)
    {
        var model = Load(new ClipModel(ClipConfig.FromHf(config)), dir);
        using var output = model.forward(io.Read("input_ids").to(TestDevice), io.Read("attention_mask").to(TestDevice), io.Read("pixel_values").to(TestDevice));
        Close(output.TextEmbeds, io.Read("text_embeds"), "text_embeds");
        Close(output.ImageEmbeds, io.Read("image_embeds"), "image_embeds");
        Close(output.LogitsPerImage, io.Read("logits_per_image"), "logits_per_image");
    }
}
