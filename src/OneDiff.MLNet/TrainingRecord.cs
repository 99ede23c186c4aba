using System.Text.Json;
using System.Text.Json.Serialization;

namespace OneDiff.MLNet;

/// <summary>
/// One line of a training run's <c>metrics.jsonl</c>: a logged step (<c>kind</c> "step": loss,
/// learning rate per parameter group, gradient norm, samples per second) or a validation run
/// (<c>kind</c> "validation": its scores). <see cref="DiffCaptionTrainer.TrainingRecords"/> holds the
/// same records; <c>onediff report training</c> draws them again.
/// </summary>
public sealed record TrainingRecord
{
    public string Kind { get; init; } = "step";
    /// <summary>1 (coupled sample training) or 2 (instruction tuning).</summary>
    public int Stage { get; init; }
    public long Step { get; init; }
    public long TotalSteps { get; init; }
    public double Epoch { get; init; }
    public double? Loss { get; init; }
    public IReadOnlyDictionary<string, double>? LearningRates { get; init; }
    public double? GradNorm { get; init; }
    public double? SamplesPerSecond { get; init; }
    /// <summary>The validation scores (BLEU-4, METEOR, ROUGE-L, CIDEr) of a "validation" record.</summary>
    public IReadOnlyDictionary<string, double>? Validation { get; init; }
    public DateTimeOffset Time { get; init; } = DateTimeOffset.UtcNow;

    public const string FileName = "metrics.jsonl";
    public const string PlotName = "training.png";

    static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>The records of a metrics.jsonl; a line that is not one is an error naming it.</summary>
    public static List<TrainingRecord> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"no training record: {path}", path);
        var records = new List<TrainingRecord>();
        int lineNo = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try { records.Add(JsonSerializer.Deserialize<TrainingRecord>(line, Json) ?? throw new JsonException("null")); }
            catch (JsonException e) { throw new InvalidDataException($"{path} line {lineNo}: not a training record ({e.Message})"); }
        }
        return records;
    }
}

/// <summary>Appends a run's records to <c>metrics.jsonl</c> in a folder and keeps them for
/// <see cref="DiffCaptionTrainer.TrainingRecords"/>. A resumed run continues the file; a new run
/// starts it afresh (an earlier run's lines would mix into its plot).</summary>
internal sealed class TrainingRecorder
{
    readonly List<TrainingRecord> _records = [];
    readonly string? folder;

    public TrainingRecorder(string? folder, bool resume)
    {
        this.folder = folder;
        if (folder is not null && !resume && Directory.Exists(folder)) File.Delete(Path.Combine(folder, TrainingRecord.FileName));
    }

    public IReadOnlyList<TrainingRecord> Records => _records;
    public string? Folder => folder;

    public void Add(TrainingRecord record)
    {
        _records.Add(record);
        if (folder is null) return;
        Directory.CreateDirectory(folder);
        File.AppendAllText(Path.Combine(folder, TrainingRecord.FileName), record.ToJson() + "\n");
    }

    /// <summary>Draws training.png from the whole file (earlier, resumed parts included).</summary>
    public void Draw()
    {
        if (folder is null) return;
        string file = Path.Combine(folder, TrainingRecord.FileName);
        if (File.Exists(file)) TrainingPlot.Draw(TrainingRecord.Read(file), Path.Combine(folder, TrainingRecord.PlotName));
    }
}
