using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using OneDiff.Data;
using OneDiff.Data.Images;
using OneDiff.Modeling.Generation;
using OneDiff.Modeling.Models.Llama;
using OneDiff.Modeling.Models.OneDiff;
using OneDiff.Modeling.Prompting;
using OneDiff.Modeling.Runtime;
using OneDiff.Modeling.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace OneDiff.MLNet;

/// <summary>
/// A fitted OneDiff model as an ML.NET transformer: adds a text column with the generated
/// difference caption of each image pair (batched greedy or beam decoding). Works in
/// <see cref="Transform"/>, in a PredictionEngine, after ML.NET's image transforms, and saves and
/// loads with <c>mlContext.Model.Save/Load</c>. It holds the model's weights in native memory (a 7B
/// model's 14 GB), which the garbage collector does not see: dispose it (and a model that
/// <c>Model.Load</c> returned) when done with it, with <c>using</c> or <c>Dispose()</c>.
/// </summary>
public sealed partial class DiffCaptionTransformer : ITransformer, IDisposable
{
    internal OneDiffModel Model { get; }
    internal TextTokenizer Tokenizer { get; }
    /// <summary>The tokenizer's own file (SentencePiece model or a folder archive), kept to save it; null for the embedded tiny one.</summary>
    internal byte[]? TokenizerSource { get; }
    public CaptioningSettings Settings { get; private set; }
    internal ResolvedDevice Device { get; }
    /// <summary>Where the frozen vision weights live when they are kept out of the saved zip.</summary>
    internal string? ExternalVisionFolder { get; init; }
    /// <summary>Where the LLM's base weights live when a LoRA model keeps them out of the saved zip
    /// (its adapters, <see cref="LoraWeights"/>, are saved instead).</summary>
    internal string? ExternalLlmFolder { get; set; }
    internal LoraConfig? Lora { get; set; }
    /// <summary>The ML.NET environment it reports progress to (Transform's "OneDiff captioning"); null: none.</summary>
    internal IHostEnvironment? Host { get; init; }
    /// <summary>The adapters merged into the LLM (CPU copies), kept to save them.</summary>
    internal Dictionary<string, Tensor>? LoraWeights { get; set; }

    readonly PromptEncoder _prompts;
    readonly ClipImageProcessor _processor;

    internal DiffCaptionTransformer(OneDiffModel model, TextTokenizer tokenizer, byte[]? tokenizerSource, CaptioningSettings settings, ResolvedDevice device)
    {
        Model = model;
        Tokenizer = tokenizer;
        TokenizerSource = tokenizerSource;
        Settings = settings;
        Device = device;
        _prompts = new PromptEncoder(tokenizer, ConversationTemplate.ByName(settings.Template));
        _processor = new ClipImageProcessor(model.Config.Vision.ImageSize, settings.PadToSquare);
        model.eval();
    }

    public OneDiffConfig Config => Model.Config;

    /// <summary>Where and in what precision the model runs, e.g. "cpu, bfloat16".</summary>
    public string RunsOn => $"{Device.Name}, {Model.language_model.model.embed_tokens.weight!.dtype.ToString().ToLowerInvariant()}";

    /// <summary>Turns change maps on (a method) or off (null) for this transformer: its output then
    /// has the map columns (<see cref="CaptioningSettings.ChangeMaps"/>); saved with it. Returns it.</summary>
    public DiffCaptionTransformer WithChangeMaps(ChangeMapMethod? method)
    {
        Settings = Settings with { ChangeMaps = method };
        return this;
    }

    /// <summary>The side of the change maps' patch grid (maps have its square of values).</summary>
    public int MapGridSize => (int)Math.Round(Math.Sqrt(Config.PatchesPerImage));

    /// <summary>Where this model's patches lie in an image of the given size (its preprocessing
    /// undone): what registers a change map on the image.</summary>
    public OneDiff.Data.Localization.PatchGrid MapGrid(int width, int height) =>
        new(width, height, Config.Vision.ImageSize, MapGridSize, Settings.PadToSquare);

    public bool IsRowToRowMapper => true;

    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        ImagePairTable.CheckSchema(inputSchema, Settings.Columns, requireReferences: false);
        var b = new DataViewSchema.Builder();
        b.AddColumns(inputSchema);
        b.AddColumn(Settings.PredictedCaptionColumnName, TextDataViewType.Instance);
        if (Settings.ChangeMaps is not null)
        {
            b.AddColumn(Settings.BeforeMapColumnName, new VectorDataViewType(NumberDataViewType.Single, Config.PatchesPerImage));
            b.AddColumn(Settings.AfterMapColumnName, new VectorDataViewType(NumberDataViewType.Single, Config.PatchesPerImage));
        }
        return b.ToSchema();
    }

    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return new CaptionedDataView(this, input, GetOutputSchema(input.Schema));
    }

    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => new CaptionRowMapper(this, inputSchema, GetOutputSchema(inputSchema));

    /// <summary>Captions of the given pairs, in order, batched.</summary>
    public IReadOnlyList<string> Caption(IEnumerable<ImagePairRow> rows) => EnumerateCaptions(rows).ToList();

    /// <summary>Captions of the given pairs, in order, a batch at a time as they are generated (for
    /// progress and for writing results out as a long run goes).</summary>
    public IEnumerable<string> EnumerateCaptions(IEnumerable<ImagePairRow> rows) => EnumerateOutcomes(rows).Select(o => o.Caption);

    /// <summary>The same as <see cref="EnumerateCaptions"/> with each caption's token counts and,
    /// where <see cref="CaptioningSettings.ChangeMaps"/> is set, its change map.</summary>
    public IEnumerable<CaptionOutcome> EnumerateOutcomes(IEnumerable<ImagePairRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var report = new DataReport(BadInputMode.Error);
        var batch = new List<PreparedPair>();
        foreach (var pair in PairPreprocessor.PrepareAll(rows.Select(r => (r.Record, r.Image1, r.Image2, r.Where)), _processor, report, ahead: 2 * Settings.BatchSize))
        {
            batch.Add(pair);
            if (batch.Count < Settings.BatchSize) continue;
            foreach (var outcome in CaptionBatch(batch)) yield return outcome;
            batch.Clear();
        }
        if (batch.Count > 0)
            foreach (var outcome in CaptionBatch(batch)) yield return outcome;
    }

    /// <summary>The caption of one pair of image files (the CLI's <c>onediff caption</c>).</summary>
    public string Caption(string image1, string image2, string? prompt = null)
    {
        var record = new DiffCapRecord("pair", image1, image2, prompt ?? Settings.DefaultPrompt, [], "diffcap");
        return Caption([new ImagePairRow(record, ImageInput.FromPath(image1), ImageInput.FromPath(image2))])[0];
    }

    IEnumerable<CaptionOutcome> CaptionBatch(List<PreparedPair> batch) =>
        Caption(batch.Select(p => new CaptionRequest(p)).ToList(), Settings.NumBeams, Settings.ChangeMaps);

    /// <summary>Decodes and preprocesses one pair for <see cref="Caption(IReadOnlyList{CaptionRequest}, int)"/>;
    /// safe from any thread (it does not touch the model). A bad image throws a
    /// <see cref="DataException"/> naming <paramref name="where"/> and the image.</summary>
    public PreparedPair Prepare(ImageInput image1, ImageInput image2, string? prompt, string where)
    {
        var record = new DiffCapRecord(where, image1.Name, image2.Name, string.IsNullOrWhiteSpace(prompt) ? Settings.DefaultPrompt : prompt, [], "request");
        return PairPreprocessor.PrepareOne(record, image1, image2, _processor, new DataReport(BadInputMode.Error), where)!;
    }

    /// <summary>
    /// Captions prepared pairs as one batch, each with its own length, sampling and text callback
    /// (greedy rows give the same caption as <see cref="Caption(IEnumerable{ImagePairRow})"/>). With
    /// <paramref name="numBeams"/> above 1 every row is beam-searched (no sampling, no callback), up
    /// to the longest row's limit. Not thread-safe: call it from one thread.
    /// </summary>
    /// <param name="changeMaps">also a change map per caption, read with this method (null: none, at no cost).</param>
    public IReadOnlyList<CaptionOutcome> Caption(IReadOnlyList<CaptionRequest> requests, int numBeams = 1, ChangeMapMethod? changeMaps = null)
    {
        ArgumentNullException.ThrowIfNull(requests);
        if (requests.Count == 0) return [];
        using var scope = torch.NewDisposeScope();
        int side = Config.Vision.ImageSize;
        var batch = requests.Select(r => r.Pair).ToList();
        Tensor Pixels(Func<PreparedPair, float[]> pick) =>
            OneDiff.Modeling.Runtime.HostToDevice.Images(batch.Select(pick).ToList(), side, Model.vision_tower.embeddings.patch_embedding.weight!.dtype, Device.ToTorch());
        var prompts = batch.Select(p => _prompts.Encode(string.IsNullOrWhiteSpace(p.Record.Prompt) ? Settings.DefaultPrompt : p.Record.Prompt, null)).ToList();
        var limits = requests.Select(r => r.MaxNewTokens ?? Settings.MaxNewTokens).ToArray();
        var seen = new IReadOnlyList<long>[requests.Count];
        var endedByCaller = new bool[requests.Count];
        var rows = requests.Select((r, i) => new RowDecoding
        {
            MaxNewTokens = limits[i], Temperature = r.Temperature, TopP = r.TopP, Seed = r.Seed,
            OnTokens = tokens =>
            {
                seen[i] = tokens.ToArray();
                return endedByCaller[i] = r.Cancel.IsCancellationRequested || r.OnText?.Invoke(Text(tokens)) == true;
            },
        }).ToList();
        var options = new GenerationOptions
        {
            MaxNewTokens = limits.Max(), NumBeams = numBeams, EosTokenIds = [Tokenizer.EosId], PadTokenId = Tokenizer.PadId,
            Rows = numBeams > 1 ? null : rows,
        };
        var (pixelsA, pixelsB) = (Pixels(p => p.Image1), Pixels(p => p.Image2));
        long[][] ids;
        int visualTokens;
        using (torch.no_grad())
        using (var visual = Model.EncodePair(pixelsA, pixelsB))
        {
            ids = Model.Generate(visual, prompts, options);
            visualTokens = (int)visual.shape[1];
        }
        // Beam search has no callback: its rows are cut at their first end of sequence.
        var generated = ids.Select((row, i) => seen[i] ?? CutAtEos(row)).ToList();
        var maps = changeMaps is { } method
            ? ChangeMapper.Compute(Model, pixelsA, pixelsB, prompts.Select((p, i) => p with { Answer = generated[i].Select(t => (int)t).ToArray() }).ToList(), method)
                .Select(m => new OneDiff.Data.Localization.ChangeMap(MapGridSize, OneDiff.Data.Localization.ChangeMap.Normalize(m.Before), OneDiff.Data.Localization.ChangeMap.Normalize(m.After))).ToList()
            : null;
        return generated.Select((tokens, i) =>
        {
            bool ended = endedByCaller[i] || (tokens.Count > 0 && tokens[^1] == Tokenizer.EosId);
            return new CaptionOutcome(Text(tokens), prompts[i].BeforeImage.Length + visualTokens + prompts[i].AfterImage.Length,
                tokens.Count, ended || tokens.Count < limits[i] ? "stop" : "length", maps?[i]);
        }).ToList();
    }

    IReadOnlyList<long> CutAtEos(long[] row)
    {
        int end = Array.IndexOf(row, (long)Tokenizer.EosId);
        return end < 0 ? row : row[..(end + 1)];
    }

    string Text(IEnumerable<long> tokens) =>
        Tokenizer.Decode(tokens.Where(t => t != Tokenizer.EosId && t != Tokenizer.PadId).Select(t => (int)t)).Trim();

    public void Dispose()
    {
        Model.Dispose();
        foreach (var t in LoraWeights?.Values ?? Enumerable.Empty<Tensor>()) t.Dispose();
    }
}
