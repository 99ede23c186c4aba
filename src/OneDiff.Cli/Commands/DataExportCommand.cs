using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using OneDiff.Data;
using OneDiff.Data.Formats;
using OneDiff.Data.Readers;

namespace OneDiff.Cli.Commands;

/// <summary>
/// <c>onediff data export</c>: a dataset split as its reader sees it (ids, pairs, prompt, every
/// reference, task, group), written as DiffCap JSON lines: to mix several datasets into one
/// training or test file, or to hand the data to other tools.
/// </summary>
public static class DataExportCommand
{
    public static Command Create()
    {
        var dataset = new DatasetSplitOptions();
        var output = new Option<string>("--out") { Description = "the DiffCap JSON-lines file to write (image paths relative to it where they lie below its folder)", Required = true };
        var skipBad = new Option<bool>("--skip-bad") { Description = "skip bad records, listing each on stderr, instead of stopping at the first" };
        var command = new Command("export", "Write a dataset split as DiffCap JSON lines") { output, skipBad };
        foreach (var o in dataset.All) command.Options.Add(o);
        CliAction.Set(command, (parse, _) =>
        {
            var report = new DataReport(parse.GetValue(skipBad) ? BadInputMode.Skip : BadInputMode.Error);
            var records = DatasetReader.ForFormat(parse.GetValue(dataset.Format)!).Read(parse.GetValue(dataset.Root)!, new ReadOptions { Split = parse.GetValue(dataset.Split)! }, report);
            foreach (var p in report.Skipped) Console.Error.WriteLine($"skipped {p}");
            string file = parse.GetValue(output)!;
            DiffCapJsonl.Write(file, records);
            Console.WriteLine($"wrote {N(records.Count)} pair(s) with {N(records.Sum(r => r.Captions.Count))} reference(s) to {file}" +
                (report.Skipped.Count > 0 ? $"; skipped {N(report.Skipped.Count)} problem(s)" : ""));
            return ExitCodes.Success;
        });
        return command;
    }

    static string N(int n) => n.ToString("N0", CultureInfo.InvariantCulture);
}
