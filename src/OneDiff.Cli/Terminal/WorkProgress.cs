using System.Globalization;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace OneDiff.Cli.Terminal;

/// <summary>
/// How long work shows its progress. In a terminal (standard error not redirected), a
/// Spectre.Console bar per phase with the count, rate and time left, and every line the work
/// writes printed above the bars, so nothing tears the display. Redirected, there are no bars:
/// the work's plain progress lines and its log lines are written as they come, as files and log
/// collectors want them.
/// </summary>
internal sealed class WorkProgress
{
    static WorkProgress? s_live;

    readonly string _unit;
    readonly IAnsiConsole? _console;
    ProgressContext? _context;
    ProgressTask? _task;
    string? _phase;

    WorkProgress(string unit, IAnsiConsole? console)
    {
        _unit = unit;
        _console = console;
    }

    /// <summary>Whether bars are drawn: standard error is a terminal that can draw them.</summary>
    public static bool TerminalAttached =>
        !Console.IsErrorRedirected && Environment.GetEnvironmentVariable("TERM") is not "dumb";

    /// <summary>Whether this run draws bars (else <see cref="Plain"/> lines are written).</summary>
    public bool Interactive => _console is not null;

    /// <summary>Runs <paramref name="work"/> with progress counted in <paramref name="unit"/>
    /// (pairs, steps, images, answers): under a live display in a terminal, else plainly.</summary>
    public static T Run<T>(string unit, Func<WorkProgress, T> work)
    {
        if (!TerminalAttached) return work(new WorkProgress(unit, null));
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.Yes,
            ColorSystem = ColorSystemSupport.Detect,
            Interactive = InteractionSupport.Yes,
            Out = new AnsiConsoleOutput(Console.Error),
        });
        var progress = new WorkProgress(unit, console);
        return console.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                new CountColumn(unit), new RateColumn(unit), new TimeLeftColumn(), new SpinnerColumn())
            .Start(context =>
            {
                progress._context = context;
                Volatile.Write(ref s_live, progress);
                try { return work(progress); }
                finally
                {
                    progress.Finish();
                    Volatile.Write(ref s_live, null);
                }
            });
    }

    /// <summary>The current phase (a stage, "captioning") is at <paramref name="done"/> of
    /// <paramref name="total"/>, with an optional <paramref name="status"/> (the loss) beside its
    /// name. Another phase name means this one ran to its end (work that stops early does not go
    /// on to a next phase): its bar is filled and the next one starts. Drawn only in a terminal; any thread.</summary>
    public void Report(string phase, double done, double total, string? status = null)
    {
        if (_context is null) return;
        lock (this)
        {
            if (_phase != phase)
            {
                if (_task is not null) _task.Value = _task.MaxValue;
                Finish();
                _phase = phase;
                _task = _context.AddTask(Markup.Escape(phase), autoStart: true, maxValue: Math.Max(1, total));
            }
            _task!.MaxValue = Math.Max(1, total);
            _task.Value = Math.Min(done, _task.MaxValue);
            _task.Description = Markup.Escape(phase) + (status is null ? "" : $" [grey]{Markup.Escape(status)}[/]");
        }
    }

    /// <summary>The current phase ran to its end (progress that is polled may miss its last
    /// count): its bar is filled. Nothing when no bar was started.</summary>
    public void Complete()
    {
        lock (this)
            if (_task is not null) _task.Value = _task.MaxValue;
    }

    /// <summary>A progress line for redirected output (a log file); with bars it is not written,
    /// since the bar says the same.</summary>
    public void Plain(string line)
    {
        if (_console is null) Console.Error.WriteLine(line);
    }

    /// <summary>A line of the work's output for standard output.</summary>
    public void Out(string line)
    {
        // Standard output that is a file or pipe is written directly; on the terminal it goes
        // through the live display, above the bars.
        if (_console is null || Console.IsOutputRedirected) Console.Out.WriteLine(line);
        else _console.WriteLine(line);
    }

    /// <summary>A message for standard error (a warning, a skipped record).</summary>
    public void Error(string line)
    {
        if (_console is null) Console.Error.WriteLine(line);
        else _console.WriteLine(line);
    }

    /// <summary>A message for standard error from outside the work (the Ctrl+C notice): above the
    /// bars while a display is live, else written directly.</summary>
    public static void ErrorLine(string line)
    {
        if (Volatile.Read(ref s_live) is { } live) live.Error(line);
        else Console.Error.WriteLine(line);
    }

    /// <summary>Calls <paramref name="poll"/> every quarter second until disposed: progress that
    /// is read rather than pushed (ML.NET's progress channel).</summary>
    public IDisposable Every(Action poll)
    {
        if (_context is null) return new Timer(_ => { }, null, Timeout.Infinite, Timeout.Infinite);
        return new Timer(_ => poll(), null, TimeSpan.Zero, TimeSpan.FromMilliseconds(250));
    }

    void Finish()
    {
        lock (this)
        {
            if (_task is null) return;
            // The last phase keeps its count: cut short (cancelled, failed), its bar stops there.
            _task.StopTask();
            _task = null;
        }
    }

    /// <summary>"120/400 pairs".</summary>
    sealed class CountColumn(string unit) : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text($"{N(task.Value)}/{N(task.MaxValue)} {unit}");
    }

    /// <summary>"3.2 pairs/s", over the phase so far: progress read by polling arrives in jumps,
    /// which a rate over the last samples turns into nonsense.</summary>
    sealed class RateColumn(string unit) : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            Rate(task) is { } r
                ? new Text($"{r.ToString(r < 10 ? "F1" : "F0", CultureInfo.InvariantCulture)} {unit}/s", new Style(Color.Grey))
                : new Text("");
    }

    /// <summary>"00:01:20 left" at the phase's rate so far.</summary>
    sealed class TimeLeftColumn : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            task.IsFinished || Rate(task) is not { } r ? new Text("")
                : new Text($"{TimeSpan.FromSeconds(Math.Ceiling((task.MaxValue - task.Value) / r)):hh\\:mm\\:ss} left", new Style(Color.Blue));
    }

    static double? Rate(ProgressTask task) =>
        task.ElapsedTime is { TotalSeconds: > 0 } elapsed && task.Value > 0 ? task.Value / elapsed.TotalSeconds : null;

    static string N(double value) => ((long)value).ToString("N0", CultureInfo.InvariantCulture);
}
