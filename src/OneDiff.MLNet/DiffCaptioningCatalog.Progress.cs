using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace OneDiff.MLNet;

/// <summary>One long-running operation as ML.NET's progress channel last reported it: its units
/// (training: stage and step; captioning: pairs) with their limits, and its metrics (training: loss).</summary>
public sealed record ProgressReport(string Name, IReadOnlyDictionary<string, (double Value, double? Limit)> Units, IReadOnlyDictionary<string, double> Metrics, bool Finished);

public sealed partial class DiffCaptioningCatalog
{
    /// <summary>Whether the context's execution was cancelled (<see cref="CancelExecution"/>, or ML.NET's
    /// own <c>MLContext.CancelExecution</c>, which AutoML calls): Fit stops at its next step.</summary>
    internal bool CancelRequested => ((ICancelable)Host).IsCanceled;

    /// <summary>
    /// Cancels the context's execution, as ML.NET's <c>MLContext.CancelExecution()</c> does (it is
    /// internal in Microsoft.ML 6.0; AutoML calls it). A running Fit stops at its next step and
    /// throws <see cref="OperationCanceledException"/>, after writing a checkpoint when it keeps
    /// them. The context cannot be used for further work afterwards, as with ML.NET's own.
    /// </summary>
    public void CancelExecution() => Context.CancelExecution();

    /// <summary>
    /// The progress this context's OneDiff work reports through ML.NET's progress channels
    /// (<see cref="IProgressChannel"/>) as of now: a running Fit's stage, step and loss, a running
    /// Transform's pairs. ML.NET keeps these in its environment without a public reader; this reads
    /// them, from any thread, while the work runs.
    /// </summary>
    public IReadOnlyList<ProgressReport> Progress()
    {
        var latest = new Dictionary<string, ProgressReport>(StringComparer.Ordinal);
        foreach (var e in Context._env.ProgressTracker.GetAllProgress())
        {
            if (!e.Name.StartsWith("OneDiff", StringComparison.Ordinal)) continue;
            bool finished = e.Kind == ProgressReporting.ProgressEvent.EventKind.Stop;
            if (e.ProgressEntry is not { Header: { } header } entry)
            {
                if (finished && latest.TryGetValue(e.Name, out var last)) latest[e.Name] = last with { Finished = true };
                continue;
            }
            var units = new Dictionary<string, (double, double?)>(StringComparer.Ordinal);
            for (int i = 0; i < header.UnitNames.Count; i++)
                if (entry.Progress?[i] is { } value) units[header.UnitNames[i]] = (value, entry.ProgressLim?[i]);
            var metrics = new Dictionary<string, double>(StringComparer.Ordinal);
            for (int i = 0; i < header.MetricNames.Count; i++)
                if (entry.Metrics?[i] is { } value) metrics[header.MetricNames[i]] = value;
            latest[e.Name] = new ProgressReport(e.Name, units, metrics, finished);
        }
        return latest.Values.ToList();
    }
}
