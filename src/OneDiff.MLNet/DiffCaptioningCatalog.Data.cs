using Microsoft.ML;
using Microsoft.ML.Runtime;
using OneDiff.Data;
using OneDiff.Data.Readers;
using OneDiff.Modeling.Runtime;

namespace OneDiff.MLNet;

public sealed partial class DiffCaptioningCatalog
{
    /// <summary>An image-pair table (Id, Image1, Image2, Prompt, References, Task, Group) from DiffCap records.</summary>
    public IDataView LoadImagePairs(IEnumerable<DiffCapRecord> records) => ImagePairTable.FromRecords(Context, records);

    /// <summary>Reads a dataset from its authors' layout (<see cref="DatasetReader.Formats"/>) into an
    /// image-pair table. With <paramref name="skipBad"/>, bad records are skipped and logged;
    /// otherwise the first one is an error naming it.</summary>
    public IDataView LoadDataset(string format, string root, string split = "train", bool skipBad = false)
    {
        var report = new DataReport(skipBad ? BadInputMode.Skip : BadInputMode.Error);
        var records = DatasetReader.ForFormat(format).Read(root, new ReadOptions { Split = split }, report);
        if (report.Skipped.Count > 0)
        {
            using var ch = Host.Start("LoadDataset");
            ch.Warning(MessageSensitivity.None, $"{format} {split}: skipped {report.Skipped.Count} record(s); first: {report.Skipped[0]}");
        }
        return LoadImagePairs(records);
    }
}

public sealed partial class DiffCaptioningCatalog
{
    sealed class CaptionRow
    {
        public string Image { get; set; } = "";
        public string Caption { get; set; } = "";
    }

    sealed class ConversationRow
    {
        public string Image { get; set; } = "";
        public string[] Questions { get; set; } = [];
        public string[] Answers { get; set; } = [];
    }

    /// <summary>Single-image captions (LLaVA's JSON format) as a table (Image, Caption) for stage I.</summary>
    public IDataView LoadImageCaptions(string llavaJson, string imageRoot, bool skipBad = false)
    {
        var report = new DataReport(skipBad ? BadInputMode.Skip : BadInputMode.Error);
        var reader = new LlavaCaptionReader();
        var captions = reader.Read(llavaJson, imageRoot, report);
        LogRead("LoadImageCaptions", llavaJson, report, reader.TextOnly);
        return Context.Data.LoadFromEnumerable(captions.Select(c => new CaptionRow { Image = c.Image, Caption = c.Caption }).ToList());
    }

    /// <summary>Conversations about single images (LLaVA's instruction JSON, such as LLaVA-665K) as a
    /// table (Image, Questions, Answers: one element per turn) for <see cref="DiffCaptionTrainer.Options.ConversationData"/>.
    /// Text-only records are left out and counted in the log.</summary>
    public IDataView LoadImageConversations(string llavaJson, string imageRoot, bool skipBad = false)
    {
        var report = new DataReport(skipBad ? BadInputMode.Skip : BadInputMode.Error);
        var reader = new LlavaConversationReader();
        var conversations = reader.Read(llavaJson, imageRoot, report);
        LogRead("LoadImageConversations", llavaJson, report, reader.TextOnly);
        return Context.Data.LoadFromEnumerable(conversations.Select(c => new ConversationRow
        {
            Image = c.Image, Questions = c.Turns.Select(t => t.Question).ToArray(), Answers = c.Turns.Select(t => t.Answer).ToArray(),
        }).ToList());
    }

    void LogRead(string what, string file, DataReport report, int textOnly)
    {
        using var ch = Host.Start(what);
        if (textOnly > 0) ch.Info(MessageSensitivity.None, $"{file}: left out {textOnly} text-only record(s) (the model reads images)");
        foreach (var p in report.Skipped) ch.Warning(MessageSensitivity.None, $"{file}: skipped {p}");
    }
}

public sealed partial class DiffCaptioningCatalog
{
    /// <summary>
    /// Loads a saved OneDiff model (plain <c>mlContext.Model.Load</c> works too); this adds clear
    /// errors for a missing, truncated or foreign file, and finds the transformer inside a chain.
    /// <paramref name="overrides"/> pick the device and the decoding instead of the saved ones.
    /// </summary>
    public DiffCaptionTransformer LoadTransformer(string path, CaptioningOverrides? overrides = null)
    {
        var ml = Context;
        if (!File.Exists(path)) throw new FileNotFoundException($"model file not found: {path}", path);
        // Checked before the (possibly many-GB) load, so a bad value fails at once.
        overrides?.ApplyTo(new CaptioningSettings());
        if (overrides?.Device is { } device) DeviceSelector.Resolve(device, ml.GpuDeviceId, ml.FallbackToCpu);
        ITransformer loaded;
        var previous = DiffCaptionTransformer.LoadOverrides.Value;
        DiffCaptionTransformer.LoadOverrides.Value = overrides;
        try { loaded = ml.Model.Load(path, out _); }
        catch (Exception e) when (e is InvalidDataException or FormatException or IOException or InvalidOperationException or ArgumentException
                                   or System.Reflection.TargetInvocationException)
        {
            var inner = e is System.Reflection.TargetInvocationException { InnerException: { } i } ? i : e;
            throw new InvalidDataException($"{path}: not a readable ML.NET model with a OneDiff transformer ({inner.Message})", inner);
        }
        finally { DiffCaptionTransformer.LoadOverrides.Value = previous; }
        return Find(loaded) ?? throw new InvalidDataException($"{path}: the model holds no OneDiff caption transformer");
    }

    /// <summary>What a saved OneDiff model is and needs (its header), without loading its weights.</summary>
    public SavedModelInfo ReadModelInfo(string path)
    {
        var ml = Context;
        if (!File.Exists(path)) throw new FileNotFoundException($"model file not found: {path}", path);
        var previous = DiffCaptionTransformer.HeaderOnly.Value;
        DiffCaptionTransformer.HeaderOnly.Value = true;
        try
        {
            using (ml.Model.Load(path, out _) as IDisposable) { }
            throw new InvalidDataException($"{path}: the model holds no OneDiff caption transformer");
        }
        catch (Exception e) when (Unwrap(e) is DiffCaptionTransformer.HeaderReadException read) { return read.Info; }
        catch (Exception e) when (e is FormatException or IOException or InvalidOperationException or ArgumentException or System.Reflection.TargetInvocationException)
        {
            throw new InvalidDataException($"{path}: not a readable ML.NET model with a OneDiff transformer ({Unwrap(e).Message})", Unwrap(e));
        }
        finally { DiffCaptionTransformer.HeaderOnly.Value = previous; }

        static Exception Unwrap(Exception e) => e is System.Reflection.TargetInvocationException { InnerException: { } i } ? Unwrap(i) : e;
    }

    static DiffCaptionTransformer? Find(ITransformer t) => t switch
    {
        DiffCaptionTransformer d => d,
        IEnumerable<ITransformer> chain => chain.Select(Find).FirstOrDefault(x => x is not null),
        _ => null,
    };
}
