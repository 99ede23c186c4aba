namespace OneDiff.Data;

/// <summary>
/// One image pair with its task prompt and reference captions: the unified DiffCap record every
/// reader produces. Image paths are absolute (readers resolve them against the dataset root).
/// </summary>
/// <param name="Id">the id papers score under (e.g. "235", "&lt;n&gt;.png_n").</param>
/// <param name="Image1">the "before" image (or the left one).</param>
/// <param name="Image2">the "after" image (or the right one).</param>
/// <param name="Prompt">the task prompt.</param>
/// <param name="Captions">every reference caption (at least one for training and scoring).</param>
/// <param name="Task">the dataset/task name, e.g. "spot-the-diff".</param>
/// <param name="Group">a key for per-group scores, e.g. the change type.</param>
/// <param name="Source">where the record came from (dataset and split).</param>
/// <param name="Locations">where the changes are, where the dataset knows (the procedural set's
/// boxes); empty for a pair without change, null where unknown.</param>
public sealed record DiffCapRecord(
    string Id, string Image1, string Image2, string Prompt, IReadOnlyList<string> Captions,
    string Task, string? Group = null, string? Source = null, IReadOnlyList<Localization.ChangeLocation>? Locations = null);

/// <summary>What to do with a bad record: fail naming it (default), or skip it and report it.</summary>
public enum BadInputMode { Error, Skip }

/// <summary>A problem found in a dataset: the record, the file, and what is wrong.</summary>
public sealed record DataProblem(string Record, string? File, string Message)
{
    public override string ToString() => File is null ? $"{Record}: {Message}" : $"{Record}: {Message} ({File})";
}

/// <summary>Thrown for bad input in error mode; names the record and the file.</summary>
public sealed class DataException(DataProblem problem) : Exception(problem.ToString())
{
    public DataProblem Problem { get; } = problem;
}

/// <summary>Collects problems: throws at the first in error mode, records them in skip mode.</summary>
public sealed class DataReport
{
    readonly List<DataProblem> _skipped = [];
    public BadInputMode Mode { get; }
    public IReadOnlyList<DataProblem> Skipped => _skipped;

    public DataReport(BadInputMode mode = BadInputMode.Error) => Mode = mode;

    /// <summary>Reports a problem: throws (error mode) or notes it as skipped.</summary>
    public void Problem(string record, string? file, string message)
    {
        var p = new DataProblem(record, file, message);
        if (Mode == BadInputMode.Error) throw new DataException(p);
        lock (_skipped) _skipped.Add(p);
    }
}
