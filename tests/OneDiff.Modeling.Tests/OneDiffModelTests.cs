using OneDiff.Modeling.Generation;
using OneDiff.Modeling.Models.Clip;
using OneDiff.Modeling.Models.Llama;
using OneDiff.Modeling.Models.OneDiff;
using OneDiff.Modeling.Prompting;
using OneDiff.Modeling.Tokenization;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Tests;

public class OneDiffModelTests
{
    /// <summary>Builds on the meta device: shapes without memory.</summary>
    static T OnMeta<T>(Func<T> build)
    {
        Runtime.TorchNativeLoader.EnsureLoaded();
        torch.set_default_device(torch.META);
        try { return build(); }
        finally { torch.set_default_device(torch.CPU); }
    }

    static long Count(nn.Module m) => m.parameters().Distinct().Sum(p => p.numel());

    [Fact]
    public void FullSizePresetsHaveTheHuggingFaceParameterCounts()
    {
        var clip = OnMeta(() => new ClipVisionTransformer(ClipVisionConfig.LargePatch14_336));
        Assert.Equal(303_507_456, Count(clip));
        var vicuna = OnMeta(() => new LlamaForCausalLM(LlamaConfig.Vicuna7B));
        Assert.Equal(6_738_415_616, Count(vicuna));
        var qwen = OnMeta(() => new LlamaForCausalLM(LlamaConfig.Qwen2_7B));
        Assert.Equal(7_615_616_512, Count(qwen));
    }

    [Fact]
    public void LlmConfigsWriteTheHuggingFaceConfigTheyAreReadFrom()
    {
        foreach (var c in new[] { LlamaConfig.Vicuna7B, LlamaConfig.Qwen2_7B, OneDiffConfig.Tiny.Llm })
        {
            var json = System.Text.Json.Nodes.JsonNode.Parse(c.ToHfJson())!.AsObject();
            Assert.Equal(c, LlamaConfig.FromHf(new Checkpoints.HfConfig(json)));
        }
    }

    [Fact]
    public void FullSizePresetsHaveTheCheckpointNamesAndShapes()
    {
        var vicuna = OnMeta(() => new LlamaForCausalLM(LlamaConfig.Vicuna7B));
        var names = vicuna.state_dict();
        Assert.Equal(32 * 9 + 3, names.Count);
        Assert.Equal(new long[] { 32000, 4096 }, names["model.embed_tokens.weight"].shape);
        Assert.Equal(new long[] { 11008, 4096 }, names["model.layers.31.mlp.gate_proj.weight"].shape);
        Assert.Equal(new long[] { 4096 }, names["model.layers.0.input_layernorm.weight"].shape);
        Assert.Equal(new long[] { 32000, 4096 }, names["lm_head.weight"].shape);

        var qwen = OnMeta(() => new LlamaForCausalLM(LlamaConfig.Qwen2_7B)).state_dict();
        Assert.Equal(new long[] { 512 }, qwen["model.layers.0.self_attn.k_proj.bias"].shape);
        Assert.Equal(new long[] { 3584 }, qwen["model.layers.27.self_attn.q_proj.bias"].shape);
        Assert.False(qwen.ContainsKey("model.layers.0.self_attn.o_proj.bias"));
        Assert.Equal(new long[] { 152064, 3584 }, qwen["lm_head.weight"].shape);

        var clip = OnMeta(() => new ClipVisionTransformer(ClipVisionConfig.LargePatch14_336)).state_dict();
        Assert.Equal(new long[] { 577, 1024 }, clip["embeddings.position_embedding.weight"].shape);
        Assert.Equal(new long[] { 1024, 3, 14, 14 }, clip["embeddings.patch_embedding.weight"].shape);
        Assert.True(clip.ContainsKey("pre_layrnorm.weight"));
        Assert.True(clip.ContainsKey("encoder.layers.23.mlp.fc2.bias"));

        var full = OnMeta(() => new OneDiffModel(OneDiffConfig.Vicuna7B));
        Assert.Equal(2 * 576 + 32, full.Config.VisualTokens);
        var sd = full.state_dict();
        Assert.Equal(new long[] { 1, 32, 768 }, sd["delta_module.delta_tokens"].shape);
        Assert.Equal(new long[] { 4096, 1024 }, sd["mm_projector.0.weight"].shape);
        Assert.Equal(new long[] { 4096, 768 }, sd["delta_projector.0.weight"].shape);
        Assert.Equal(new long[] { 768, 1024 }, sd["delta_module.qformer.encoder.layer.0.crossattention.attention.key.weight"].shape);
        Assert.False(sd.ContainsKey("delta_module.qformer.encoder.layer.1.crossattention.attention.key.weight"));
    }

    static (OneDiffModel Model, PromptEncoder Prompts, Tensor A, Tensor B) Tiny(int seed = 3)
    {
        torch.manual_seed(seed);
        var model = new OneDiffModel(OneDiffConfig.Tiny);
        var prompts = new PromptEncoder(TextTokenizer.Tiny(), ConversationTemplate.VicunaV1);
        var a = torch.rand(2, 3, 64, 64);
        var b = torch.rand(2, 3, 64, 64);
        return (model, prompts, a, b);
    }

    [Fact]
    public void FrozenPartsStayUnchangedAndWithoutGradients()
    {
        var (model, prompts, a, b) = Tiny();
        var batch = new[] { prompts.Encode("What changed?", "the red car is gone"), prompts.Encode("What changed?", "a man appeared") };
        foreach (var stage in new[] { TrainingStage.CoupledSampleTraining, TrainingStage.InstructionTuning })
        {
            model.SetStage(stage);
            var frozen = model.vision_tower.parameters().Select(p => p.detach().clone()).ToList();
            if (stage == TrainingStage.CoupledSampleTraining) frozen.AddRange(model.language_model.parameters().Select(p => p.detach().clone()));
            var trainable = model.TrainableParameters().Select(t => t.Parameter).ToList();
            using var optimizer = optim.AdamW(trainable, lr: 1e-3);
            for (int step = 0; step < 2; step++)
            {
                optimizer.zero_grad();
                using var loss = model.Loss(a, b, batch);
                loss.backward();
                optimizer.step();
            }
            Assert.All(model.vision_tower.parameters(), p => Assert.Null(p.grad));
            var after = model.vision_tower.parameters().ToList();
            if (stage == TrainingStage.CoupledSampleTraining)
            {
                Assert.All(model.language_model.parameters(), p => Assert.Null(p.grad));
                after.AddRange(model.language_model.parameters());
            }
            for (int i = 0; i < frozen.Count; i++) Assert.True(frozen[i].eq(after[i]).all().item<bool>(), $"{stage}: frozen parameter {i} changed");
            Assert.Contains(trainable, p => p.grad is not null);
            Assert.Equal(stage == TrainingStage.InstructionTuning, model.TrainableParameters().Any(t => t.Group == "language_model"));
        }
    }

    [Fact]
    public void TheLossFallsAndGenerationRunsOnTheTinyModel()
    {
        var (model, prompts, a, b) = Tiny();
        model.SetStage(TrainingStage.InstructionTuning);
        var batch = new[] { prompts.Encode("Describe the change.", "the red car is gone"), prompts.Encode("Describe the change.", "a man appeared") };
        using var optimizer = optim.AdamW(model.TrainableParameters().Select(t => t.Parameter), lr: 3e-3);
        float first = 0, last = 0;
        for (int step = 0; step < 15; step++)
        {
            using var scope = torch.NewDisposeScope();
            optimizer.zero_grad();
            var loss = model.Loss(a, b, batch);
            loss.backward();
            optimizer.step();
            if (step == 0) first = loss.item<float>();
            last = loss.item<float>();
        }
        Assert.True(last < first * 0.5, $"loss {first} -> {last}");
        model.eval();
        var options = new GenerationOptions { MaxNewTokens = 8, EosTokenIds = [2] };
        var generated = model.Generate(a, b, batch.Select(p => p with { Answer = [] }).ToList(), options);
        Assert.Equal(2, generated.Length);
        Assert.All(generated, g => Assert.InRange(g.Length, 1, 8));
        var beams = model.Generate(a, b, batch, options with { NumBeams = 3 });
        Assert.Equal(2, beams.Length);
    }

    [Fact]
    public void APaddedBatchGeneratesWhatEachPairGeneratesAlone()
    {
        var (model, prompts, a, b) = Tiny(5);
        model.eval();
        using var noGrad = torch.no_grad();
        // Different prompt lengths: the batch is left padded (mask path); alone, a pair has no
        // padding and decodes without any mask (SDPA's causal path, then no mask per token).
        var batch = new[] { prompts.Encode("What changed?", ""), prompts.Encode("Describe every difference between the two images in detail.", "") };
        Assert.NotEqual(batch[0].BeforeImage.Length + batch[0].AfterImage.Length, batch[1].BeforeImage.Length + batch[1].AfterImage.Length);
        var options = new GenerationOptions { MaxNewTokens = 12 };
        using var visual = model.EncodePair(a, b);
        var together = model.Generate(visual, batch, options);
        for (int i = 0; i < 2; i++)
        {
            using var one = visual.narrow(0, i, 1);
            var alone = model.Generate(one, [batch[i]], options);
            Assert.Equal(alone[0], together[i]);
        }
    }

    [Fact]
    public void ReadingTokensBackEveryFewStepsGivesTheSameCaptions()
    {
        var (model, prompts, a, b) = Tiny(6);
        model.eval();
        using var noGrad = torch.no_grad();
        var batch = new[] { prompts.Encode("What changed?", ""), prompts.Encode("What changed?", "") };
        using var visual = model.EncodePair(a, b);
        var free = model.Generate(visual, batch, new GenerationOptions { MaxNewTokens = 10 });
        // End row 0 at its third token: row 1 may end later, earlier or never; both shapes must hold.
        var options = new GenerationOptions { MaxNewTokens = 10, EosTokenIds = [free[0][2]], PadTokenId = 0 };
        var everyStep = model.Generate(visual, batch, options with { StopCheckInterval = 1 });
        Assert.Equal(free[0].Take(3), everyStep[0].Take(3));
        Assert.All(everyStep[0].Skip(3), t => Assert.Equal(0L, t));
        foreach (int interval in new[] { 3, 4, 8, 20 })
        {
            var batched = model.Generate(visual, batch, options with { StopCheckInterval = interval });
            Assert.Equal(everyStep[0], batched[0]);
            Assert.Equal(everyStep[1], batched[1]);
        }
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void GradientCheckpointingGivesTheSameLossAndGradients(bool packed, bool fusedNorm)
    {
        // fusedNorm: libtorch's rms_norm (CUDA's default) inside the recomputed layers.
        Modules.KernelChoices.FusedRmsNorm = fusedNorm ? true : null;
        try { CheckpointingMatches(packed); }
        finally { Modules.KernelChoices.FusedRmsNorm = null; }
    }

    static void CheckpointingMatches(bool packed)
    {
        var (model, prompts, a, b) = Tiny(7);
        model.SetStage(TrainingStage.InstructionTuning);
        model.train();
        // Unpacked: SDPA's causal path; packed: the block mask path.
        var batch = packed
            ? new[] { TrainingSequence.Pack([prompts.Encode("What changed?", "the red car is gone"), prompts.Encode("What changed?", "a car left")]), new TrainingSequence(prompts.Encode("What changed?", "a man appeared")) }
            : new[] { new TrainingSequence(prompts.Encode("What changed?", "the red car is gone")), new TrainingSequence(prompts.Encode("Describe it.", "a man appeared by the door")) };
        var trainable = model.TrainableParameters().Select(t => t.Parameter).ToList();

        (float Loss, List<Tensor> Grads) Run(bool checkpointing)
        {
            model.language_model.model.GradientCheckpointing = checkpointing;
            foreach (var p in trainable) p.grad = null;
            using var scope = torch.NewDisposeScope();
            var loss = model.Loss(model.EncodePair(a, b), batch);
            loss.backward();
            return (loss.item<float>(), trainable.Select(p => p.grad!.clone().DetachFromDisposeScope()).ToList());
        }

        var plain = Run(false);
        var recomputed = Run(true);
        model.language_model.model.GradientCheckpointing = false;
        Assert.Equal(plain.Loss, recomputed.Loss, 6);
        Assert.Contains(model.TrainableParameters(), t => t.Group == "language_model");
        for (int i = 0; i < trainable.Count; i++)
        {
            double scale = plain.Grads[i].abs().max().item<float>() + 1e-6;
            double diff = (plain.Grads[i] - recomputed.Grads[i]).abs().max().item<float>();
            Assert.True(diff <= 1e-4 * scale, $"parameter {i}: gradients differ by {diff} (largest {scale})");
        }
    }

    [Fact]
    public void TheLossIsThatOfTheFullCausalSequence()
    {
        var (model, prompts, a, b) = Tiny();
        model.eval();
        using var noGrad = torch.no_grad();
        var p = prompts.Encode("What changed?", "the red car is gone");
        using var visual = model.EncodePair(a.narrow(0, 0, 1), b.narrow(0, 0, 1));
        // Reference: embed the whole sequence, run the LLM causally, score the answer positions.
        long[] Ids(int[] x) => x.Select(i => (long)i).ToArray();
        var embeds = torch.cat([model.language_model.Embed(torch.tensor(Ids(p.BeforeImage))), visual[0],
            model.language_model.Embed(torch.tensor(Ids(p.AfterImage.Concat(p.Answer).ToArray())))], 0).unsqueeze(0);
        var logits = model.language_model.forward(embeds)[0];
        long answerStart = embeds.shape[1] - p.Answer.Length;
        var expected = nn.functional.cross_entropy(logits.narrow(0, answerStart - 1, p.Answer.Length), torch.tensor(Ids(p.Answer))).item<float>();
        Assert.Equal(expected, model.Loss(visual, [p]).item<float>(), 5);
    }

    [Fact]
    public void AConversationTrainsOnItsAnswersOnly()
    {
        var (model, prompts, a, b) = Tiny();
        model.eval();
        using var noGrad = torch.no_grad();
        var p = prompts.EncodeConversation([("What is on the left?", "a red car"), ("And on the right?", "a man by the door")]);
        // The stream: answer 1 and its end, the second question (not a target), answer 2 and its end.
        var first = prompts.Encode("What is on the left?", "a red car");
        var asked = prompts.Tokenizer.Encode("USER: And on the right? ASSISTANT:");
        var second = prompts.Encode("", "a man by the door").Answer;
        Assert.Equal(first.BeforeImage, p.BeforeImage);
        Assert.Equal(first.AfterImage, p.AfterImage);
        Assert.Equal([.. first.Answer, .. asked, .. second], p.Answer);
        Assert.Equal([.. first.Answer.Select(_ => true), .. asked.Select(_ => false), .. second.Select(_ => true)], p.AnswerTargets!);

        // Reference: the whole sequence causally, cross entropy over the target positions only.
        using var visual = model.EncodePair(a.narrow(0, 0, 1), b.narrow(0, 0, 1));
        long[] Ids(IEnumerable<int> x) => x.Select(i => (long)i).ToArray();
        var embeds = torch.cat([model.language_model.Embed(torch.tensor(Ids(p.BeforeImage))), visual[0],
            model.language_model.Embed(torch.tensor(Ids(p.AfterImage.Concat(p.Answer))))], 0).unsqueeze(0);
        var logits = model.language_model.forward(embeds)[0];
        long answerStart = embeds.shape[1] - p.Answer.Length;
        var rows = Enumerable.Range(0, p.Answer.Length).Where(k => p.AnswerTargets![k]).Select(k => answerStart - 1 + k).ToArray();
        var expected = nn.functional.cross_entropy(logits.index_select(0, torch.tensor(rows)),
            torch.tensor(Ids(p.Answer.Where((_, k) => p.AnswerTargets![k])))).item<float>();
        Assert.Equal(expected, model.Loss(visual, [p]).item<float>(), 5);

        // The template without turns refuses a second one; packing refuses conversations.
        var plain = new PromptEncoder(prompts.Tokenizer, ConversationTemplate.Plain);
        Assert.Throws<ArgumentException>(() => plain.EncodeConversation([("q", "a"), ("q2", "a2")]));
        Assert.Throws<ArgumentException>(() => TrainingSequence.Pack([p, p]));
    }

    [Fact]
    public void PackedAnswersGiveTheLossOfTrainingThemOneByOne()
    {
        var (model, prompts, a, b) = Tiny();
        model.eval();
        using var noGrad = torch.no_grad();
        string[] first = ["the red car is gone", "a car left", "the red car has disappeared from the street"];
        string[] second = ["a man appeared", "someone is now standing by the door"];
        var one = first.Select(c => prompts.Encode("What changed?", c)).ToList();
        var two = second.Select(c => prompts.Encode("What changed?", c)).ToList();
        using var visual = model.EncodePair(a, b);
        // One by one: every answer its own row, the pair's visual tokens repeated.
        var rows = torch.cat([visual[0].unsqueeze(0).expand(3, -1, -1), visual[1].unsqueeze(0).expand(2, -1, -1)], 0);
        float separate = model.Loss(rows, one.Concat(two).ToList()).item<float>();
        float packed = model.Loss(visual, [TrainingSequence.Pack(one), TrainingSequence.Pack(two)]).item<float>();
        Assert.Equal(separate, packed, 5);
        Assert.Throws<ArgumentException>(() => TrainingSequence.Pack([one[0], prompts.Encode("Another prompt?", "x")]));
    }

    [Fact]
    public void ConfigRoundTripsThroughJsonAndChecksItsSizes()
    {
        var tiny = OneDiffConfig.Tiny;
        var back = OneDiffConfig.FromJson(tiny.ToJson());
        Assert.Equal(tiny.Llm, back.Llm);
        Assert.Equal(tiny.Vision, back.Vision);
        Assert.Equal(tiny.DeltaFeatureLayers, back.DeltaFeatureLayers);
        Assert.Equal(tiny.VisualTokens, back.VisualTokens);
        var bad = tiny with { DeltaFeatureLayers = [1, 2, 9] };
        var e = Assert.Throws<InvalidDataException>(bad.CheckSizes);
        Assert.Contains("9", e.Message);
    }

    [Fact]
    public void LevelPerBlockReadoutAndChannelFusionSwitchesRun()
    {
        torch.manual_seed(1);
        var config = OneDiffConfig.Tiny with
        {
            Readout = DeltaReadout.LevelPerBlock, Fusion = PairFusion.ChannelConcat,
            Delta = OneDiffConfig.Tiny.Delta with { NumHiddenLayers = 3, CrossAttentionFrequency = 1 },
        };
        var model = new OneDiffModel(config);
        using var visual = model.EncodePair(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64));
        Assert.Equal(new long[] { 1, config.VisualTokens, 128 }, visual.shape);
        Assert.Equal(config.PatchesPerImage + config.NumDeltaTokens, config.VisualTokens);
    }
}

public class OneDiffPretrainedTests
{
    [Fact]
    public void ClipBertAndLlamaFoldersLoadIntoTheirParts()
    {
        string F(string n) => Path.Combine(OneDiff.Tests.Common.TestPaths.HfFixtures, n);
        var folders = new PretrainedFolders(Clip: F("clip_vision"), Bert: F("bert"), Llm: F("llama"));
        var preset = OneDiffConfig.Tiny with { DeltaFeatureLayers = [2, 3, 4] };
        var model = OneDiffPretrained.Build(OneDiffPretrained.Resolve(preset, folders), folders, torch.CPU, ScalarType.Float32);
        Assert.Equal(64, model.Config.Vision.HiddenSize);
        Assert.Equal(512, model.Config.Llm.VocabSize);
        using var clip = Checkpoints.SafetensorsCheckpoint.Open(F("clip_vision"));
        using var bert = Checkpoints.SafetensorsCheckpoint.Open(F("bert"));
        using var llama = Checkpoints.SafetensorsCheckpoint.Open(F("llama"));
        Assert.True(clip.Read("encoder.layers.3.mlp.fc1.weight").eq(model.vision_tower.encoder.layers[3].mlp.fc1.weight!).all().item<bool>());
        Assert.True(bert.Read("encoder.layer.1.attention.self.query.weight").eq(model.delta_module.qformer.encoder.layer[1].attention.attention.query.weight!).all().item<bool>());
        Assert.True(bert.Read("encoder.layer.0.output.LayerNorm.bias").eq(model.delta_module.qformer.encoder.layer[0].output_query.LayerNorm.bias!).all().item<bool>());
        Assert.True(bert.Read("embeddings.LayerNorm.weight").eq(model.delta_module.qformer.layernorm.weight!).all().item<bool>());
        Assert.True(llama.Read("lm_head.weight").eq(model.language_model.lm_head.weight!).all().item<bool>());
        Assert.True(model.vision_tower.parameters().All(p => !p.requires_grad));
        // Loaded in place: each layer's k_proj (for one) holds the checkpoint's values, and q/k/v,
        // gate/up still share their buffers, so inference takes the fused products.
        Assert.True(llama.Read("model.layers.1.self_attn.k_proj.weight").eq(model.language_model.model.layers[1].self_attn.k_proj.weight!).all().item<bool>());
        Assert.All(model.language_model.model.layers, l => Assert.True(l.self_attn.ProjectionsFused && l.mlp.ProjectionsFused));
    }

    [Fact]
    public void AConfigNotResolvedAgainstItsFoldersFailsTheStrictLoadNamingATensor()
    {
        // Build takes the config as given: the Tiny preset's LLM (128 wide) against a 64-wide folder.
        string F(string n) => Path.Combine(OneDiff.Tests.Common.TestPaths.HfFixtures, n);
        var e = Assert.Throws<InvalidDataException>(() => OneDiffPretrained.Build(OneDiffConfig.Tiny, new PretrainedFolders(Llm: F("llama")), torch.CPU, ScalarType.Float32));
        Assert.Contains("has shape", e.Message);
    }

    [Fact]
    public void AMissingCheckpointTensorIsAnErrorNamingIt()
    {
        string dir = OneDiff.Tests.Common.TestPaths.NewTempDir("partial");
        string F(string n) => Path.Combine(OneDiff.Tests.Common.TestPaths.HfFixtures, n);
        using (var llama = Checkpoints.SafetensorsCheckpoint.Open(F("llama")))
        {
            var tensors = llama.Names.Where(n => n != "model.norm.weight").Select(n => new KeyValuePair<string, Tensor>(n, llama.Read(n))).ToList();
            Checkpoints.SafetensorsWriter.Save(Path.Combine(dir, "model.safetensors"), tensors);
        }
        File.Copy(Path.Combine(F("llama"), "config.json"), Path.Combine(dir, "config.json"));
        var folders = new PretrainedFolders(Llm: dir);
        var e = Assert.Throws<InvalidDataException>(() => OneDiffPretrained.Build(OneDiffPretrained.Resolve(OneDiffConfig.Tiny, folders), folders, torch.CPU, ScalarType.Float32));
        Assert.Contains("model.norm.weight", e.Message);
    }
}
