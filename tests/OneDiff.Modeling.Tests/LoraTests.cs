using OneDiff.Modeling.Models.Llama;
using OneDiff.Modeling.Models.OneDiff;
using OneDiff.Modeling.Training;
using OneDiff.Tests.Common;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Tests;

public class LoraTests
{
    static LlamaForCausalLM TinyLlm()
    {
        torch.manual_seed(4);
        var llm = new LlamaForCausalLM(OneDiffConfig.Tiny.Llm);
        Modules.Initialization.HuggingFace(llm);
        llm.eval();
        return llm;
    }

    static Tensor Logits(LlamaForCausalLM llm, Tensor ids)
    {
        using var noGrad = torch.no_grad();
        return llm.ForwardIds(ids);
    }

    static Tensor Ids() { torch.manual_seed(11); return torch.randint(0, OneDiffConfig.Tiny.Llm.VocabSize, [2, 9], ScalarType.Int64); }

    [Fact]
    public void AttachedAdaptersChangeNothingUntilTheyTrainAndAreNamedBesideTheirProjections()
    {
        var llm = TinyLlm();
        var ids = Ids();
        var before = Logits(llm, ids);
        var names = llm.state_dict().Keys.ToHashSet();
        llm.model.AttachLora(new LoraConfig { Rank = 4, Alpha = 8 });
        // B starts at zero: the adapted model computes what the base did (up to the base's fused
        // q/k/v and gate/up products, which an adapted module takes one by one).
        double diff = (Logits(llm, ids) - before).abs().max().item<float>();
        Assert.True(diff < 1e-5, $"attached vs base: {diff}");
        var added = llm.state_dict().Keys.Where(n => !names.Contains(n)).ToList();
        int layers = OneDiffConfig.Tiny.Llm.NumHiddenLayers;
        Assert.Equal(layers * 7 * 2, added.Count);
        Assert.Contains("model.layers.0.self_attn.q_proj_lora.lora_A", added);
        Assert.Contains($"model.layers.{layers - 1}.mlp.down_proj_lora.lora_B", added);
        Assert.Equal(new long[] { 4, OneDiffConfig.Tiny.Llm.HiddenSize }, llm.state_dict()["model.layers.0.self_attn.q_proj_lora.lora_A"].shape);
        Assert.Throws<InvalidOperationException>(() => llm.model.AttachLora(new LoraConfig { Rank = 4 }));
    }

    [Fact]
    public void MergingFoldsTheAdaptersIntoTheWeightsAndLeavesAPlainModel()
    {
        var llm = TinyLlm();
        var ids = Ids();
        var names = llm.state_dict().Keys.Order().ToList();
        var baseLogits = Logits(llm, ids);
        llm.model.AttachLora(new LoraConfig { Rank = 4, Alpha = 8, Targets = ["q_proj", "v_proj", "up_proj", "down_proj"] });
        using (torch.no_grad())
            foreach (var (_, adapter) in llm.model.LoraAdapters()) adapter.lora_B.normal_(0, 0.05);
        // No gradients here, so a fused q/k/v product would be taken if adapters did not stop it.
        var adapted = Logits(llm, ids);
        Assert.False(adapted.allclose(baseLogits, rtol: 0, atol: 1e-3), "the adapters change the output");

        llm.model.MergeLora();
        Assert.Null(llm.model.Lora);
        Assert.Empty(llm.model.LoraAdapters());
        Assert.Equal(names, llm.state_dict().Keys.Order().ToList());
        Assert.True(llm.model.layers[0].self_attn.ProjectionsFused, "the merged weights are still the fused buffer's views");
        var merged = Logits(llm, ids);
        double diff = (merged - adapted).abs().max().item<float>();
        Assert.True(diff < 1e-4, $"merged vs adapted: {diff}");
    }

    [Fact]
    public void InBfloat16TheAdaptersTakeTheModelsDtypeAndMergeToTheSameOutput()
    {
        // As on CUDA, where the model is bf16: adapters made on the layers' dtype, merged through fp32.
        var llm = TinyLlm();
        llm.to(ScalarType.BFloat16);
        var ids = Ids();
        llm.model.AttachLora(new LoraConfig { Rank = 4, Alpha = 8 });
        Assert.All(llm.model.LoraAdapters(), a => Assert.Equal(ScalarType.BFloat16, a.Adapter.lora_A.dtype));
        using (torch.no_grad())
            foreach (var (_, adapter) in llm.model.LoraAdapters()) adapter.lora_B.normal_(0, 0.05);
        var adapted = Logits(llm, ids).to(ScalarType.Float32);
        llm.model.MergeLora();
        var merged = Logits(llm, ids).to(ScalarType.Float32);
        // bf16 keeps 8 bits: the merged weights round once where the adapted model rounds its sums.
        double diff = (merged - adapted).abs().max().item<float>(), scale = adapted.abs().max().item<float>();
        Assert.True(diff < 0.05 * scale, $"merged vs adapted in bf16: {diff} (logits up to {scale})");
    }

    static List<TrainingExample> Examples(int count) => TrainingLoopTests.Examples(count);

    static OneDiffModel NewModel() => TrainingLoopTests.NewModel();

    static StageSettings Settings(LoraConfig? lora, string? folder = null, bool resume = false) => new()
    {
        Stage = TrainingStage.InstructionTuning, MaxSteps = 12, BatchSize = 4, Seed = 3, Lora = lora,
        CheckpointFolder = folder, CheckpointEvery = folder is null ? 0 : 4, Resume = resume,
        LearningRates = new Dictionary<string, double> { ["projectors"] = 1e-3, ["delta_module"] = 1e-3, ["language_model"] = 1e-3, ["lora"] = 3e-3 },
    };

    static readonly LoraConfig WithDropout = new() { Rank = 8, Alpha = 16, Dropout = 0.3 };

    [Fact]
    public void InStageTwoOnlyTheAdaptersOfTheLlmTrainAndTheStageEndsWithThemMerged()
    {
        var model = NewModel();
        var names = model.state_dict().Keys.Order().ToList();
        var llmBefore = model.language_model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
        var groups = new List<string>();
        bool checkedMidway = false;
        var loop = new TrainingLoop(model, torch.CPU);
        loop.Run(Examples(16), Settings(WithDropout), cancel: TestContext.Current.CancellationToken, afterStep: step =>
        {
            if (step != 6) return true;
            groups = model.TrainableParameters().Select(t => t.Group).Distinct().Order().ToList();
            foreach (var (name, p) in model.language_model.named_parameters())
            {
                if (name.Contains("_lora.")) Assert.True(p.requires_grad, name);
                else Assert.True(p.eq(llmBefore[name]).all().item<bool>(), $"{name} changed under LoRA");
            }
            Assert.Contains(model.language_model.model.LoraAdapters(), a => a.Adapter.lora_B.abs().sum().item<float>() > 0);
            checkedMidway = true;
            return true;
        });
        Assert.True(checkedMidway);
        Assert.Equal(["delta_module", "lora", "projectors"], groups);
        Assert.True(loop.Losses[^1] < loop.Losses[0], $"loss {loop.Losses[0]} -> {loop.Losses[^1]}");
        Assert.Equal(names, model.state_dict().Keys.Order().ToList());
        var q = model.language_model.model.layers[0].self_attn.q_proj.weight!;
        Assert.False(q.eq(llmBefore["model.layers.0.self_attn.q_proj.weight"]).all().item<bool>(), "the merge put what the adapters learned into the weights");
        Assert.False(model.language_model.model.embed_tokens.weight!.requires_grad || q.requires_grad);
    }

    [Fact]
    public void DropoutMasksAreDrawnTheSameInTheCheckpointedRecomputation()
    {
        var plain = new TrainingLoop(NewModel(), torch.CPU);
        plain.Run(Examples(16), Settings(WithDropout), cancel: TestContext.Current.CancellationToken);
        var recomputed = new TrainingLoop(NewModel(), torch.CPU);
        recomputed.Run(Examples(16), Settings(WithDropout) with { GradientCheckpointing = true }, cancel: TestContext.Current.CancellationToken);
        var noDropout = new TrainingLoop(NewModel(), torch.CPU);
        noDropout.Run(Examples(16), Settings(WithDropout with { Dropout = 0 }), cancel: TestContext.Current.CancellationToken);
        for (int i = 0; i < 12; i++)
            Assert.True(Math.Abs(plain.Losses[i] - recomputed.Losses[i]) < 1e-4, $"step {i + 1}: {plain.Losses[i]} vs {recomputed.Losses[i]}");
        Assert.True(plain.Losses.Zip(noDropout.Losses).Skip(1).Any(p => Math.Abs(p.First - p.Second) > 1e-4), "dropout has an effect");
    }

    [Fact]
    public void ResumingALoraRunReproducesTheUninterruptedLossCurve() =>
        TrainingLoopTests.AssertResumedRunFollowsTheUninterruptedOne((folder, resume) => Settings(WithDropout, folder, resume));

    [Fact]
    public void ResumingWithOtherLoraSettingsIsAnErrorNotAPartialLoad()
    {
        string folder = TestPaths.NewTempDir("lora-resume-other");
        new TrainingLoop(NewModel(), torch.CPU).Run(Examples(16), Settings(WithDropout, folder), cancel: TestContext.Current.CancellationToken, afterStep: step => step < 4);
        var e = Assert.Throws<InvalidOperationException>(() => new TrainingLoop(NewModel(), torch.CPU)
            .Run(Examples(16), Settings(WithDropout with { Rank = 4, Alpha = 8 }, folder, resume: true), cancel: TestContext.Current.CancellationToken));
        Assert.Contains("stage2-step00000004 was written with LoRA rank 8, alpha 16, dropout 0.3", e.Message);
        Assert.Contains("this run has LoRA rank 4", e.Message);
        // A checkpoint of the whole LLM's training is no LoRA checkpoint either, and the other way round.
        var full = Assert.Throws<InvalidOperationException>(() => new TrainingLoop(NewModel(), torch.CPU)
            .Run(Examples(16), Settings(null, folder, resume: true), cancel: TestContext.Current.CancellationToken));
        Assert.Contains("this run has LoRA none", full.Message);
    }

    [Fact]
    public void StageOneRefusesLora()
    {
        var e = Assert.Throws<ArgumentException>(() => new TrainingLoop(NewModel(), torch.CPU)
            .Run(Examples(4), Settings(WithDropout) with { Stage = TrainingStage.CoupledSampleTraining }, cancel: TestContext.Current.CancellationToken));
        Assert.Contains("stage II", e.Message);
    }

    [Fact]
    public void Vicuna7BAtRank128HasPeftsTrainableParameterCount()
    {
        Runtime.TorchNativeLoader.EnsureLoaded();
        torch.set_default_device(torch.META);
        try
        {
            var vicuna = new LlamaForCausalLM(LlamaConfig.Vicuna7B);
            var lora = new LoraConfig();
            vicuna.model.AttachLora(lora);
            long counted = vicuna.model.LoraAdapters().Sum(a => a.Adapter.parameters().Sum(p => p.numel()));
            // PEFT's "trainable params" for LLaMA-2-7B, r = 128 on every linear layer but lm_head.
            Assert.Equal(319_815_680, counted);
            Assert.Equal(counted, lora.ParameterCount(LlamaConfig.Vicuna7B));
            Assert.Equal(7 * 32, vicuna.model.LoraAdapters().Count());
        }
        finally { torch.set_default_device(torch.CPU); }
    }

    [Theory]
    [InlineData(0, 16, 0.0, "q_proj", "rank")]
    [InlineData(8, 0, 0.0, "q_proj", "alpha")]
    [InlineData(8, 16, 1.0, "q_proj", "dropout")]
    [InlineData(8, 16, 0.0, "lm_head", "unknown LoRA target 'lm_head'")]
    public void BadSettingsAreNamed(int rank, double alpha, double dropout, string target, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => new LoraConfig { Rank = rank, Alpha = alpha, Dropout = dropout, Targets = [target] }.Check());
        Assert.Contains(expected, e.Message);
    }
}
