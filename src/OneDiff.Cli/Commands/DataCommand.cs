using System.CommandLine;
using System.Text.Json;
using OneDiff.Data;
using OneDiff.Data.Readers;

namespace OneDiff.Cli.Commands;

/// <summary><c>onediff data inspect --format NAME --root DIR [--split S] [--json] [--skip-bad]</c>.</summary>
public static class DataCommand
{
    public static Command Create()
    {
        var dataset = new DatasetSplitOptions();
        var json = new Option<bool>("--json") { Description = "print one JSON object" };
        var skipBad = new Option<bool>("--skip-bad") { Description = "exit 0 even when problems were found (they are still listed)" };
        var noDecode = new Option<bool>("--no-decode") { Description = "check annotations and file presence only, do not decode every image" };
        var inspect = new Command("inspect", "Count records, pairs and references of a dataset and list every problem found; exits 1 when there is one")
        { json, skipBad, noDecode };
        foreach (var o in dataset.All) inspect.Options.Add(o);
        CliAction.Set(inspect, (parse, _) =>
        {
            var result = DatasetInspector.Inspect(parse.GetValue(dataset.Format)!, parse.GetValue(dataset.Root)!, parse.GetValue(dataset.Split)!, !parse.GetValue(noDecode));
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    format = result.Format, split = result.Split, records = result.Records, pairs = result.Pairs, references = result.References,
                    problems = result.Problems.Select(p => new { record = p.Record, file = p.File, message = p.Message }),
                }, new JsonSerializerOptions { WriteIndented = true }));
            }
            else
            {
                Console.WriteLine($"{result.Format} {result.Split}: {result.Records} records, {result.Pairs} pairs, {result.References} references");
                Console.WriteLine(result.Problems.Count == 0 ? "no problems found" : $"{result.Problems.Count} problem(s):");
                foreach (var p in result.Problems) Console.WriteLine($"  {p}");
            }
            return result.Problems.Count > 0 && !parse.GetValue(skipBad) ? ExitCodes.Failed : ExitCodes.Success;
        });
        return new Command("data", "Dataset tools") { inspect, DataExportCommand.Create(), MinePairsCommand.Create(), AnnotateCommands.EditPairs(), AnnotateCommands.Annotate(), ChatBatchCommands.Requests(), ChatBatchCommands.Fill() };
    }
}
