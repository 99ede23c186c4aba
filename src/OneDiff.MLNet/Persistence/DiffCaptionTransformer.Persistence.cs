using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Runtime;
using OneDiff.MLNet;
using OneDiff.Modeling.Checkpoints;
using OneDiff.Modeling.Models.Llama;
using OneDiff.Modeling.Models.OneDiff;
using OneDiff.Modeling.Runtime;
using OneDiff.Modeling.Tokenization;
using TorchSharp;

// ML.NET finds the loader of a saved DiffCaptionTransformer through this attribute, by signature.
[assembly: LoadableClass(typeof(DiffCaptionTransformer), null, typeof(SignatureLoadModel), "OneDiff difference caption transformer", DiffCaptionTransformer.LoaderSignature)]

namespace OneDiff.MLNet;

/// <summary>
/// Save and load inside ML.NET's model zip, the one place that uses ML.NET internals (compiled
/// against publicized references, Persistence/Publicize.targets). Layout of the model entry: a
/// format version, the settings and OneDiff config as JSON, the tokenizer, and the weights as a
/// safetensors stream; with external base weights, the frozen vision tower is referenced by folder
/// and SHA-256 instead of stored.
/// </summary>
public sealed partial class DiffCaptionTransformer : ICanSaveModel
{
    internal const string LoaderSignature = "OneDiffCaptionXf"; // ML.NET allows at most 24 characters
    // 1: every weight in the zip but an external vision tower; 2: also an external LLM with LoRA
    // adapters (written only for such models, so that the others stay readable by version 1).
    const int FormatVersion = 2;
    const string WeightsStream = "OneDiffWeights.safetensors";

    static VersionInfo GetVersionInfo() => new(
        modelSignature: "ONEDIFFC", verWrittenCur: 0x00010001, verReadableCur: 0x00010001, verWeCanReadBack: 0x00010001,
        loaderSignature: LoaderSignature, loaderAssemblyName: typeof(DiffCaptionTransformer).Assembly.FullName);

    // ML.NET constructs the transformer inside Model.Load, which takes no arguments of ours: the
    // overrides of DiffCaptioningCatalog.LoadTransformer reach Create through this, before the
    // weights are placed on a device.
    internal static readonly AsyncLocal<CaptioningOverrides?> LoadOverrides = new();

    // DiffCaptioningCatalog.ReadModelInfo: Create stops after the header and hands it out through
    // this exception (ML.NET offers no way to read a model's header without constructing it, and a
    // 7B model's weights should not be loaded to say what the file is).
    internal static readonly AsyncLocal<bool> HeaderOnly = new();
    internal sealed class HeaderReadException(SavedModelInfo info) : Exception("OneDiff model header read")
    {
        public SavedModelInfo Info { get; } = info;
    }

    sealed record Header(int FormatVersion, string Settings, string Config, string TokenizerKind, string? ExternalVisionFolder, Dictionary<string, string>? ExternalVisionSha256,
        string? ExternalLlmFolder = null, Dictionary<string, string>? ExternalLlmSha256 = null, LoraConfig? Lora = null);

    const string LlmPrefix = "language_model.", AdapterPrefix = "language_model.model.";

    /// <summary>Whether a weight of the model comes from outside the zip (an external folder's).</summary>
    static bool External(string name, string? visionFolder, string? llmFolder, OneDiffConfig config) =>
        (visionFolder is not null && name.StartsWith("vision_tower.", StringComparison.Ordinal))
        || (llmFolder is not null && name.StartsWith(LlmPrefix, StringComparison.Ordinal) && !name.Contains("_lora.", StringComparison.Ordinal))
        || (config.Llm.TieWordEmbeddings && name == "language_model.lm_head.weight");

    void ICanSaveModel.Save(ModelSaveContext ctx)
    {
        ctx.CheckAtModel();
        ctx.SetVersionInfo(GetVersionInfo());
        bool externalLlm = ExternalLlmFolder is not null && Lora is not null && LoraWeights is not null;
        var header = new Header(externalLlm ? 2 : 1, JsonSerializer.Serialize(Settings), Model.Config.ToJson(),
            TokenizerSource is null ? "tiny" : "sentencepiece-or-archive",
            ExternalVisionFolder, ExternalVisionFolder is { } vision ? HashWeights(vision) : null,
            externalLlm ? ExternalLlmFolder : null, externalLlm ? HashWeights(ExternalLlmFolder!) : null, externalLlm ? Lora : null);
        ctx.Writer.Write(JsonSerializer.Serialize(header));
        ctx.Writer.Write(TokenizerSource?.Length ?? 0);
        if (TokenizerSource is not null) ctx.Writer.Write(TokenizerSource);
        var tensors = Model.state_dict()
            .Where(kv => !External(kv.Key, ExternalVisionFolder, header.ExternalLlmFolder, Model.Config))
            .Concat(externalLlm ? LoraWeights!.Select(kv => KeyValuePair.Create(AdapterPrefix + kv.Key, kv.Value)) : [])
            .ToList();
        // Two passes over the weights: the first for the length and SHA-256 that the entry puts
        // before them, the second into the zip. Neither holds them all (a 7B model's are 14 GB,
        // and a MemoryStream ends at 2 GB), nor needs a temporary file of that size.
        using var digest = new DigestStream();
        SafetensorsWriter.Write(digest, tensors);
        ctx.SaveBinaryStream(WeightsStream, w =>
        {
            w.Write(digest.Length);
            w.Write(digest.Hash());
            w.Flush();
            SafetensorsWriter.Write(w.BaseStream, tensors);
        });
    }

    // Called by ML.NET (SignatureLoadModel) in mlContext.Model.Load.
    static DiffCaptionTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        ctx.CheckAtModel(GetVersionInfo());
        Header header;
        try { header = JsonSerializer.Deserialize<Header>(ctx.Reader.ReadString()) ?? throw new InvalidDataException("empty header"); }
        catch (JsonException e) { throw new InvalidDataException($"OneDiff model: the header is not readable ({e.Message})"); }
        if (header.FormatVersion > FormatVersion)
            throw new InvalidDataException($"OneDiff model: format version {header.FormatVersion} is newer than this library reads ({FormatVersion}); update OneDiff.MLNet");
        var settings = JsonSerializer.Deserialize<CaptioningSettings>(header.Settings)!;
        if (LoadOverrides.Value is { } overrides)
        {
            settings = overrides.ApplyTo(settings);
            if (overrides.ClipFolder is not null && header.ExternalVisionFolder is null)
                throw new ArgumentException("this model holds its own CLIP weights: a CLIP folder (--clip-folder, ClipFolder) does not apply");
            if (overrides.LlmFolder is not null && header.ExternalLlmFolder is null)
                throw new ArgumentException("this model holds its own LLM weights: an LLM folder (--llm-folder, LlmFolder) does not apply");
            // Base weights that moved: the same files (checked below) in another folder.
            header = header with
            {
                ExternalVisionFolder = header.ExternalVisionFolder is null ? null : overrides.ClipFolder ?? header.ExternalVisionFolder,
                ExternalLlmFolder = header.ExternalLlmFolder is null ? null : overrides.LlmFolder ?? header.ExternalLlmFolder,
            };
        }
        var config = OneDiffConfig.FromJson(header.Config);
        if (HeaderOnly.Value)
            throw new HeaderReadException(new SavedModelInfo(header.FormatVersion, config, settings, header.TokenizerKind,
                header.ExternalVisionFolder, header.ExternalVisionSha256?.Keys.Order(StringComparer.Ordinal).ToList() ?? [],
                header.ExternalLlmFolder, header.ExternalLlmSha256?.Keys.Order(StringComparer.Ordinal).ToList() ?? [], header.Lora));
        int tokLength = ctx.Reader.ReadInt32();
        byte[]? tokenizerSource = tokLength > 0 ? ctx.Reader.ReadBytes(tokLength) : null;
        if (tokenizerSource is not null && tokenizerSource.Length != tokLength)
            throw new InvalidDataException($"OneDiff model: the tokenizer is truncated ({tokenizerSource.Length} of {tokLength} bytes)");
        var tokenizer = tokenizerSource is null ? TextTokenizer.Tiny() : TokenizerArchive.Read(tokenizerSource);

        var device = env is MLContext ml
            ? DeviceSelector.Resolve(settings.Device, ml.GpuDeviceId, ml.FallbackToCpu)
            : DeviceSelector.Resolve(settings.Device);
        if (header.ExternalVisionFolder is { } vf) CheckHashes(vf, header.ExternalVisionSha256 ?? [], "CLIP", "--clip-folder");
        if (header.ExternalLlmFolder is { } lf) CheckHashes(lf, header.ExternalLlmSha256 ?? [], "LLM", "--llm-folder");
        var folders = header.ExternalVisionFolder is null && header.ExternalLlmFolder is null ? null
            : new PretrainedFolders(Clip: header.ExternalVisionFolder, Llm: header.ExternalLlmFolder);
        var model = OneDiffPretrained.Build(config, folders, device.ToTorch(), device.Dtype(settings.Precision));
        // The adapters go on the base weights just read, then into them, as when training ended.
        if (header.Lora is { } lora) model.language_model.model.AttachLora(lora);

        string? temp = null;
        try
        {
            bool found = ctx.TryLoadBinaryStream(WeightsStream, r =>
            {
                long length = r.ReadInt64();
                byte[] expectedHash = r.ReadBytes(32);
                // ML.NET hands the entry over as the temporary file it extracted it to: read the
                // weights there (a 7B model's 14 GB, not copied again); otherwise copy them to one.
                string file;
                long start;
                if (r.BaseStream is FileStream extracted && extracted.Length - extracted.Position == length)
                    (file, start) = (extracted.Name, extracted.Position);
                else
                {
                    temp = Path.Combine(Path.GetTempPath(), $"onediff-load-{Guid.NewGuid():N}.safetensors");
                    using (var copy = File.Create(temp)) CopyExactly(r.BaseStream, copy, length);
                    (file, start) = (temp, 0);
                }
                byte[] actual;
                using (var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20))
                {
                    if (stream.Length - start != length)
                        throw new InvalidDataException($"OneDiff model: the weights stream is truncated ({stream.Length - start} of {length} bytes)");
                    stream.Position = start;
                    actual = SHA256.HashData(stream);
                }
                if (!actual.AsSpan().SequenceEqual(expectedHash))
                    throw new InvalidDataException("OneDiff model: the weights stream is corrupt (SHA-256 mismatch)");
                using var checkpoint = SafetensorsCheckpoint.OpenEmbedded(file, start);
                checkpoint.LoadInto(model, strict: true, name => External(name, header.ExternalVisionFolder, header.ExternalLlmFolder, config) ? null : name);
            });
            if (!found) throw new InvalidDataException($"OneDiff model: the zip has no '{WeightsStream}' entry");
            model.language_model.TieWeights();
        }
        finally { if (temp is not null) File.Delete(temp); }
        var adapters = header.Lora is null ? null : model.language_model.model.CopyLoraWeights();
        if (header.Lora is not null) model.language_model.model.MergeLora();
        return new DiffCaptionTransformer(model, tokenizer, tokenizerSource, settings, device)
        {
            Host = env,
            ExternalVisionFolder = header.ExternalVisionFolder, ExternalLlmFolder = header.ExternalLlmFolder, Lora = header.Lora, LoraWeights = adapters,
        };
    }

    static void CopyExactly(Stream from, Stream to, long length)
    {
        var buffer = new byte[1 << 20];
        long left = length;
        while (left > 0)
        {
            int read = from.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
            if (read <= 0) throw new InvalidDataException($"OneDiff model: the weights stream is truncated ({length - left} of {length} bytes)");
            to.Write(buffer, 0, read);
            left -= read;
        }
    }

    static Dictionary<string, string> HashWeights(string folder) =>
        Directory.GetFiles(folder, "*.safetensors").Order(StringComparer.Ordinal)
            .ToDictionary(f => Path.GetFileName(f), f => { using var s = File.OpenRead(f); return Convert.ToHexString(SHA256.HashData(s)); });

    static void CheckHashes(string folder, Dictionary<string, string> expected, string what, string option)
    {
        foreach (var (file, hash) in expected)
        {
            string path = Path.Combine(folder, file);
            if (!File.Exists(path))
                throw new FileNotFoundException($"OneDiff model: external base weights {path} are missing; if the {what} folder has moved, " +
                    $"give its new place ({option}, CaptioningOverrides.{(what == "CLIP" ? "ClipFolder" : "LlmFolder")})", path);
            using var s = File.OpenRead(path);
            if (!string.Equals(Convert.ToHexString(SHA256.HashData(s)), hash, StringComparison.OrdinalIgnoreCase))
                throw new InvalidDataException($"OneDiff model: external base weights {path} differ from the ones it was saved with (SHA-256 mismatch)");
        }
    }
}
