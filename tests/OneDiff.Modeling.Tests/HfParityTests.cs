using OneDiff.Modeling.Checkpoints;
using OneDiff.Modeling.Models.Clip;
using OneDiff.Tests.Common;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Tests;

/// <summary>
/// Parity with Hugging Face transformers: every folder of the fixture directory (tests/fixtures/
/// hf-reference, or ONEDIFF_HF_FIXTURES) is a case, its family read from config.json. Each float32
/// case also runs with the model and its inputs in bfloat16 (the GPU dtype), against the same
/// reference outputs within bf16's rounding.
/// </summary>
[Trait("Category", "HfParity")]
public partial class HfParityTests
{
    static IEnumerable<string> CaseNames() =>
        Directory.GetDirectories(TestPaths.HfFixtures).Order().Where(dir => File.Exists(Path.Combine(dir, "config.json"))).Select(dir => Path.GetFileName(dir)!);

    public static TheoryData<string> Cases() => new(CaseNames());

    /// <summary>The float32 cases (the fixtures whose weights are already bf16 are checked as they are).</summary>
    public static TheoryData<string> Float32Cases()
    {
        var data = new TheoryData<string>();
        foreach (var name in CaseNames())
        {
            using var checkpoint = SafetensorsCheckpoint.Open(Path.Combine(TestPaths.HfFixtures, name));
            if (checkpoint.Names.All(n => checkpoint.Entry(n).DType == ScalarType.Float32)) data.Add(name);
        }
        return data;
    }

    /// <summary>Device for the parity runs: ONEDIFF_TEST_DEVICE (e.g. cuda on the GPU machine), else the CPU.</summary>
    internal static Device TestDevice => Runtime.DeviceSelector.Resolve(Environment.GetEnvironmentVariable("ONEDIFF_TEST_DEVICE") ?? "cpu").ToTorch();

    [Theory]
    [MemberData(nameof(Cases))]
    public void FixtureMatchesTheReference(string name) => Check(name, ScalarType.Float32);

    [Theory]
    [MemberData(nameof(Float32Cases))]
    public void FixtureMatchesTheReferenceInBFloat16(string name) => Check(name, ScalarType.BFloat16);

    /// <summary>The decoder fixtures again with libtorch's fused rms_norm forced (the form CUDA
    /// runs by default; here on the CPU, through the same call). Both runs take q/k/v and gate/up
    /// as one product each (the default everywhere).</summary>
    public static TheoryData<string, ScalarType> DecoderCasesWithDtypes()
    {
        var data = new TheoryData<string, ScalarType>();
        var float32 = Float32Cases().Select(row => row.Data).ToHashSet();
        foreach (var name in CaseNames())
        {
            if (HfConfig.Load(Path.Combine(TestPaths.HfFixtures, name)).ModelType is not ("llama" or "qwen2")) continue;
            data.Add(name, ScalarType.Float32);
            if (float32.Contains(name)) data.Add(name, ScalarType.BFloat16);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(DecoderCasesWithDtypes))]
    public void DecoderFixtureMatchesTheReferenceWithTheFusedNorm(string name, ScalarType dtype)
    {
        Modules.KernelChoices.FusedRmsNorm = true;
        try { Check(name, dtype); }
        finally { Modules.KernelChoices.FusedRmsNorm = null; }
    }

    static void Check(string name, ScalarType dtype)
    {
        string dir = Path.Combine(TestPaths.HfFixtures, name);
        var config = HfConfig.Load(dir);
        using var io = SafetensorsFile.Open(Path.Combine(dir, "io.safetensors"));
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var run = new Run(io, dtype);
        switch (config.ModelType)
        {
            case "clip_vision_model": CheckClipVision(dir, config, run); break;
            case "clip": CheckClip(dir, config, run); break;
            case "blip_2_qformer": CheckQFormer(dir, config, run); break;
            case "bert": CheckBert(dir, config, run); break;
            case "llama" or "qwen2": CheckCausalLm(dir, config, run); break;
            default: throw new InvalidOperationException($"{name}: no parity check for model_type '{config.ModelType}'");
        }
    }

    /// <summary>One parity run: the reference file, and the dtype the model and its float inputs
    /// run in (the comparison's tolerance follows from it).</summary>
    sealed record Run(SafetensorsFile Io, ScalarType Dtype)
    {
        public Tensor Input(string name) => OnDevice(Io.Read(name));

        public Tensor OnDevice(Tensor t) => t.is_floating_point() ? t.to(Dtype, TestDevice) : t.to(TestDevice);

        public Tensor Reference(string name) => Io.Read(name);

        /// <summary>Relative error limit: float32 rounding, or a few units of bf16's last place
        /// (2^-8) accumulated through the layers.</summary>
        public double Tolerance => Dtype == ScalarType.BFloat16 ? 2e-2 : 1e-4;

        public void Close(Tensor got, string name, string? what = null) => HfParityTests.Close(got, Reference(name), $"{what ?? name} ({Dtype})", Tolerance);

        public T Load<T>(T module, string dir, Func<string, string?>? names = null) where T : nn.Module
        {
            HfParityTests.Load(module, dir, names);
            module.to(Dtype);
            return module;
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

    static void CheckClipVision(string dir, HfConfig config, Run run)
    {
        var model = run.Load(new ClipVisionTransformer(ClipVisionConfig.FromHf(config)), dir);
        using var output = model.forward(run.Input("pixel_values"));
        for (int i = 0; i < output.HiddenStates.Length; i++)
            run.Close(output.HiddenStates[i], $"hidden_states.{i}");
        run.Close(output.LastHiddenState, "last_hidden_state");
        run.Close(output.PoolerOutput, "pooler_output");
    }

    static void CheckClip(string dir, HfConfig config, Run run)
    {
        var model = run.Load(new ClipModel(ClipConfig.FromHf(config)), dir);
        using var output = model.forward(run.Input("input_ids"), run.Input("attention_mask"), run.Input("pixel_values"));
        run.Close(output.TextEmbeds, "text_embeds");
        run.Close(output.ImageEmbeds, "image_embeds");
        run.Close(output.LogitsPerImage, "logits_per_image");

        // The image tower alone, as retrieval loads it from the same folder.
        using var tower = ClipVisionModelWithProjection.FromFolder(dir, TestDevice, run.Dtype);
        run.Close(tower.NormalizedImageEmbeds(run.Input("pixel_values")), "image_embeds", "image_embeds of ClipVisionModelWithProjection");
    }
}
