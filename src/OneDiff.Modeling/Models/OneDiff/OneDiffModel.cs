using OneDiff.Modeling.Generation;
using OneDiff.Modeling.Models.Clip;
using OneDiff.Modeling.Models.Llama;
using OneDiff.Modeling.Modules;
using OneDiff.Modeling.Prompting;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Models.OneDiff;

#pragma warning disable IDE1006 // field names are the checkpoint's parameter names

/// <summary>Which parameters train.</summary>
public enum TrainingStage
{
    /// <summary>Coupled Sample Training: only the delta module and the projectors.</summary>
    CoupledSampleTraining = 1,
    /// <summary>Multi-task instruction tuning: everything but the vision tower.</summary>
    InstructionTuning = 2,
}

/// <summary>
/// OneDiff: a frozen siamese CLIP vision tower reads both images as one batch; the Visual Delta
/// Module turns CLIP layers of both into delta tokens; MLP projectors map patch features and delta
/// tokens to the LLM width; the LLM reads [text][A patches][B patches][delta tokens][text] and is
/// trained on the answer tokens only.
/// </summary>
public sealed class OneDiffModel : nn.Module
{
    public OneDiffConfig Config { get; }
    public readonly ClipVisionTransformer vision_tower;
    public readonly VisualDeltaModule delta_module;
    public readonly Sequential mm_projector, delta_projector;
    public readonly LlamaForCausalLM language_model;

    public OneDiffModel(OneDiffConfig config) : base(nameof(OneDiffModel))
    {
        config.CheckSizes();
        Config = config;
        vision_tower = new ClipVisionTransformer(config.Vision);
        delta_module = new VisualDeltaModule(config);
        int patchWidth = config.Fusion == PairFusion.Sequence ? config.Vision.HiddenSize : 2 * config.Vision.HiddenSize;
        mm_projector = Projector(patchWidth, config.Llm.HiddenSize);
        delta_projector = Projector(config.Delta.HiddenSize, config.Llm.HiddenSize);
        language_model = new LlamaForCausalLM(config.Llm);
        RegisterComponents();
        // As Hugging Face initialises models trained from scratch (checkpoints overwrite this).
        Modules.Initialization.HuggingFace(language_model);
        Modules.Initialization.HuggingFace(delta_module.qformer);
        Modules.Initialization.ClipVision(vision_tower);
        SetStage(TrainingStage.CoupledSampleTraining);
    }

    /// <summary>LLaVA's mlp2x_gelu: Linear, GELU, Linear (checkpoint names 0 and 2).</summary>
    static Sequential Projector(int input, int output) =>
        nn.Sequential(("0", nn.Linear(input, output)), ("1", nn.GELU()), ("2", nn.Linear(output, output)));

    /// <summary>Freezes what the stage freezes: the vision tower always; the LLM in stage I, and in
    /// stage II all of it but its LoRA adapters where they are attached.</summary>
    public void SetStage(TrainingStage stage)
    {
        bool lora = language_model.model.Lora is not null;
        foreach (var p in vision_tower.parameters()) p.requires_grad = false;
        foreach (var p in language_model.parameters()) p.requires_grad = stage == TrainingStage.InstructionTuning && !lora;
        foreach (var (_, adapter) in language_model.model.LoraAdapters())
            foreach (var p in adapter.parameters()) p.requires_grad = stage == TrainingStage.InstructionTuning;
        foreach (var p in delta_module.parameters()) p.requires_grad = true;
        foreach (var p in mm_projector.parameters()) p.requires_grad = true;
        foreach (var p in delta_projector.parameters()) p.requires_grad = true;
    }

    /// <summary>How many parameters the model has, a tied weight counted once.</summary>
    public long ParameterCount() => parameters().DistinctBy(p => p.Handle).Sum(p => p.numel());

    /// <summary>Parameters that train in the current stage, by group (delta_module, projectors,
    /// language_model, lora: the LLM's adapters where attached).</summary>
    public IEnumerable<(string Group, Parameter Parameter)> TrainableParameters()
    {
        foreach (var p in delta_module.parameters()) if (p.requires_grad) yield return ("delta_module", p);
        foreach (var p in mm_projector.parameters().Concat(delta_projector.parameters())) if (p.requires_grad) yield return ("projectors", p);
        var adapters = language_model.model.LoraAdapters().SelectMany(a => a.Adapter.parameters()).Select(p => p.Handle).ToHashSet();
        foreach (var p in language_model.parameters().Distinct())
            if (p.requires_grad) yield return (adapters.Contains(p.Handle) ? "lora" : "language_model", p);
    }

    ScalarType LlmType => language_model.model.embed_tokens.weight!.dtype;

    /// <summary>What the frozen vision tower gives for a batch of images: the hidden states the
    /// delta module reads (one per level) and the patch features (CLS dropped). No gradient.</summary>
    public sealed record VisionFeatures(Tensor[] Levels, Tensor Patches) : IDisposable
    {
        public VisionFeatures Slice(long start, long length) =>
            new(Levels.Select(l => l.narrow(0, start, length)).ToArray(), Patches.narrow(0, start, length));

        public VisionFeatures To(Device device) => new(Levels.Select(l => l.to(device)).ToArray(), Patches.to(device));

        public static VisionFeatures Stack(IReadOnlyList<VisionFeatures> items) =>
            new(Enumerable.Range(0, items[0].Levels.Length).Select(i => torch.cat(items.Select(x => x.Levels[i]).ToArray(), 0)).ToArray(),
                torch.cat(items.Select(x => x.Patches).ToArray(), 0));

        public void Dispose() { foreach (var l in Levels) l.Dispose(); Patches.Dispose(); }
    }

    /// <summary>Runs the frozen tower on (B, 3, S, S) images; keeps only the layers OneDiff reads.</summary>
    public VisionFeatures EncodeVision(Tensor pixels)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var keep = new HashSet<int>(Config.DeltaFeatureLayers) { Config.PatchLayerIndex };
        using var output = vision_tower.forward(pixels, keep);
        var levels = Config.DeltaFeatureLayers.Select(l => output.HiddenStates[l].clone().MoveToOuterDisposeScope()).ToArray();
        var patches = output.HiddenStates[Config.PatchLayerIndex].narrow(1, 1, Config.PatchesPerImage).clone().MoveToOuterDisposeScope();
        return new VisionFeatures(levels, patches);
    }

    /// <summary>(B, visual tokens, LLM hidden): [A patches][B patches][delta tokens].</summary>
    public Tensor EncodePair(Tensor pixelsA, Tensor pixelsB)
    {
        // Siamese: both images through the same frozen tower, as one batch.
        using var both = EncodeVision(torch.cat([pixelsA, pixelsB], 0));
        long b = pixelsA.shape[0];
        using var a = both.Slice(0, b);
        using var bb = both.Slice(b, b);
        return EncodePair(a, bb);
    }

    /// <summary>The visual tokens from vision features of both images (trainable part).</summary>
    public Tensor EncodePair(VisionFeatures a, VisionFeatures b)
    {
        using var scope = torch.NewDisposeScope();
        var delta = delta_projector.forward(delta_module.forward(a.Levels, b.Levels));
        Tensor patchTokens = Config.Fusion == PairFusion.Sequence
            ? torch.cat([mm_projector.forward(a.Patches), mm_projector.forward(b.Patches)], 1)
            : mm_projector.forward(torch.cat([a.Patches, b.Patches], -1));
        return torch.cat([patchTokens, delta], 1).to(LlmType).MoveToOuterDisposeScope();
    }

    /// <summary>The LLM inputs for generation: embeddings of [before][visual][after], padded on
    /// the left, and the (B, T) 1/0 attention mask (null where every row has the same length).</summary>
    public (Tensor Embeds, Tensor? AttentionMask) BuildGenerationInputs(Tensor visual, IReadOnlyList<EncodedPrompt> prompts)
    {
        using var scope = torch.NewDisposeScope();
        var device = visual.device;
        long b = prompts.Count, v = visual.shape[1];
        var lengths = prompts.Select(p => p.BeforeImage.Length + v + p.AfterImage.Length).ToArray();
        long max = lengths.Max();
        int pad = Config.Llm.PadTokenId ?? Config.Llm.EosTokenId ?? 0;
        var masks = new long[b * max];
        var text = new (long[] Before, long[] After)[b];
        for (int i = 0; i < b; i++)
        {
            var p = prompts[i];
            long padCount = max - lengths[i];
            text[i] = (Enumerable.Repeat((long)pad, (int)padCount).Concat(p.BeforeImage.Select(x => (long)x)).ToArray(), p.AfterImage.Select(x => (long)x).ToArray());
            for (long k = padCount; k < max; k++) masks[i * max + k] = 1;
        }
        var (embeds, _) = EmbedAroundVisual(visual, text, []);
        var mask = lengths.All(l => l == max) ? null : Runtime.HostToDevice.Upload(masks, device).view(b, max).MoveToOuterDisposeScope();
        return (embeds.MoveToOuterDisposeScope(), mask);
    }

    /// <summary>(B, T, hidden) rows of [before][visual tokens][after] and, uploaded with them,
    /// <paramref name="extra"/>: all text of the batch goes to the device in one non-blocking copy
    /// and through one embedding lookup (a copy per row would wait for the GPU each time).</summary>
    (Tensor Embeds, Tensor Extra) EmbedAroundVisual(Tensor visual, IReadOnlyList<(long[] Before, long[] After)> text, long[] extra)
    {
        using var scope = torch.NewDisposeScope();
        var ids = new List<long>();
        foreach (var (before, after) in text) { ids.AddRange(before); ids.AddRange(after); }
        int textCount = ids.Count;
        ids.AddRange(extra);
        var uploaded = Runtime.HostToDevice.Upload(ids.ToArray(), visual.device);
        var embedded = language_model.Embed(uploaded.narrow(0, 0, textCount)).to(visual.dtype);
        var rows = new List<Tensor>();
        long at = 0;
        for (int i = 0; i < text.Count; i++)
        {
            var (before, after) = text[i];
            var parts = new List<Tensor>();
            if (before.Length > 0) parts.Add(embedded.narrow(0, at, before.Length));
            parts.Add(visual[i]);
            if (after.Length > 0) parts.Add(embedded.narrow(0, at + before.Length, after.Length));
            at += before.Length + after.Length;
            rows.Add(torch.cat(parts.ToArray(), 0));
        }
        return (torch.stack(rows, 0).MoveToOuterDisposeScope(), uploaded.narrow(0, textCount, extra.Length).MoveToOuterDisposeScope());
    }

    /// <summary>Mean cross-entropy (fp32) of the answer tokens. The head runs only at positions
    /// whose next token is an answer token.</summary>
    public Tensor Loss(Tensor pixelsA, Tensor pixelsB, IReadOnlyList<EncodedPrompt> prompts)
    {
        using var visual = EncodePair(pixelsA, pixelsB);
        return Loss(visual, prompts);
    }

    /// <summary>The loss from already encoded visual tokens, one answer per pair.</summary>
    public Tensor Loss(Tensor visual, IReadOnlyList<EncodedPrompt> prompts) =>
        Loss(visual, prompts.Select(p => new TrainingSequence(p)).ToList());

    /// <summary>The loss from already encoded visual tokens; a pair's answers share its prefix
    /// (<see cref="TrainingSequence"/>) and every answer token counts once.</summary>
    public Tensor Loss(Tensor visual, IReadOnlyList<TrainingSequence> prompts)
    {
        using var scope = torch.NewDisposeScope();
        var inputs = BuildTrainingInputs(visual, prompts);
        var hidden = language_model.Hidden(inputs.Embeds, inputs.Mask, inputs.Positions);
        var h = hidden.reshape(-1, hidden.shape[2]).index_select(0, inputs.PredictingRows);
        var logits = language_model.lm_head.forward(h).to(ScalarType.Float32);
        return nn.functional.cross_entropy(logits, inputs.Targets).MoveToOuterDisposeScope();
    }

    /// <summary>LLM inputs of a training batch, padded on the right: each row is
    /// [before][visual][after][answer 1]...[answer k]; answers continue the prefix's positions and
    /// attend to the prefix and to themselves only; only the answer tokens marked as targets are
    /// predicted (a conversation's later questions are read, not trained on).</summary>
    /// <returns>Embeds (B, T, hidden); Mask (B, 1, T, T) additive and Positions (B, T), both null
    /// where no row packs several answers (then plain causal attention over 0..T-1 is the same for
    /// every token that counts: padding sits at the end, after all of them);
    /// PredictingRows: the flattened (B*T) index of the hidden state that predicts each answer token;
    /// Targets: those tokens.</returns>
    public (Tensor Embeds, Tensor? Mask, Tensor? Positions, Tensor PredictingRows, Tensor Targets) BuildTrainingInputs(Tensor visual, IReadOnlyList<TrainingSequence> prompts)
    {
        using var scope = torch.NewDisposeScope();
        var device = visual.device;
        long b = prompts.Count, v = visual.shape[1];
        var lengths = prompts.Select(p => p.TextPrefixLength + v + p.AnswerTokens).ToArray();
        long t = lengths.Max();
        int pad = Config.Llm.PadTokenId ?? Config.Llm.EosTokenId ?? 0;
        // Segment of each token: 0 the prefix, k the k-th answer, -1 padding.
        var segments = new long[b * t];
        var positions = new long[b * t];
        var predicting = new List<long>();
        var targets = new List<long>();
        var text = new (long[] Before, long[] After)[b];
        for (int i = 0; i < b; i++)
        {
            var p = prompts[i];
            long prefix = p.TextPrefixLength + v, at = prefix;
            for (long k = 0; k < prefix; k++) positions[i * t + k] = k;
            for (int a = 0; a < p.Answers.Count; a++)
            {
                var answer = p.Answers[a];
                for (int k = 0; k < answer.Length; k++)
                {
                    segments[i * t + at + k] = a + 1;
                    positions[i * t + at + k] = prefix + k;
                    if (!p.IsTarget(a, k)) continue;
                    // The prefix's last state predicts every answer's first token.
                    predicting.Add(i * t + (k == 0 ? prefix - 1 : at + k - 1));
                    targets.Add(answer[k]);
                }
                at += answer.Length;
            }
            for (long k = at; k < t; k++) { segments[i * t + k] = -1; positions[i * t + k] = k; }
            text[i] = (p.BeforeImage.Select(x => (long)x).ToArray(),
                p.AfterImage.Concat(p.Answers.SelectMany(x => x)).Select(x => (long)x).Concat(Enumerable.Repeat((long)pad, (int)(t - lengths[i]))).ToArray());
        }
        var (embeds, indices) = EmbedAroundVisual(visual, text, [.. predicting, .. targets]);
        var predictingRows = indices.narrow(0, 0, predicting.Count);
        var targetIds = indices.narrow(0, predicting.Count, targets.Count);
        if (prompts.All(p => p.Answers.Count <= 1))
            return (embeds.MoveToOuterDisposeScope(), null, null, predictingRows.MoveToOuterDisposeScope(), targetIds.MoveToOuterDisposeScope());

        var seg = Runtime.HostToDevice.Upload(segments, device).view(b, t);
        var query = seg.unsqueeze(2);
        var key = seg.unsqueeze(1);
        // Causal, and a key is either the prefix or the query's own answer (padding reads the prefix).
        var allowed = Modules.Masks.CausalAllowed(t, t, device).unsqueeze(0)
            .logical_and(key.eq(Scalars.Of(0L)).logical_or(key.eq(query).logical_and(key.gt(Scalars.Of(0L)))));
        var mask = Modules.Masks.Additive(allowed.unsqueeze(1), visual.dtype);
        return (embeds.MoveToOuterDisposeScope(), mask.MoveToOuterDisposeScope(), Runtime.HostToDevice.Upload(positions, device).view(b, t).MoveToOuterDisposeScope(),
            predictingRows.MoveToOuterDisposeScope(), targetIds.MoveToOuterDisposeScope());
    }

    /// <summary>Generated answer ids per pair (without the prompt).</summary>
    public long[][] Generate(Tensor pixelsA, Tensor pixelsB, IReadOnlyList<EncodedPrompt> prompts, GenerationOptions options)
    {
        using var noGrad = torch.no_grad();
        using var visual = EncodePair(pixelsA, pixelsB);
        return Generate(visual, prompts, options);
    }

    /// <summary>Generated answer ids from already encoded visual tokens.</summary>
    public long[][] Generate(Tensor visual, IReadOnlyList<EncodedPrompt> prompts, GenerationOptions options)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var (embeds, mask) = BuildGenerationInputs(visual, prompts);
        return CaptionDecoder.Generate(language_model, embeds, mask, options);
    }
}
