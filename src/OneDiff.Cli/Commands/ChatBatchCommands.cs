using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using OneDiff.Data;
using OneDiff.Data.Formats;

namespace OneDiff.Cli.Commands;

/// <summary>
/// <c>onediff data chat-requests</c> and <c>onediff data fill-captions</c>: the chat-model step
/// between <c>data mine-pairs</c> and training, through files in the OpenAI batch format (which
/// vLLM's <c>run_batch</c> reads and writes too).
/// </summary>
public static class ChatBatchCommands
{
    public static Command Requests()
    {
        var candidates = new Option<string>("--candidates") { Description = "the candidates of data mine-pairs", Required = true };
        var model = new Option<string>("--model") { Description = "the chat model's name, as the serving side knows it", Required = true };
        var output = new Option<string>("--out") { Description = "the requests, one chat completion per candidate, custom_id = the candidate's id", Required = true };
        var maxTokens = new Option<int>("--max-tokens") { Description = "longest answer", DefaultValueFactory = _ => 96 };
        maxTokens.Validators.Add(r => { if (r.GetValueOrDefault<int>() < 1) r.AddError("--max-tokens must be 1 or more"); });
        var command = new Command("chat-requests", "Write the mined candidates' requests in the OpenAI batch format (vLLM run_batch reads it too)")
        { candidates, model, output, maxTokens };
        CliAction.Set(command, (parse, _) =>
        {
            var report = new DataReport();
            int n = ChatBatch.WriteRequests(parse.GetValue(candidates)!, parse.GetValue(output)!, parse.GetValue(model)!, parse.GetValue(maxTokens), report);
            Console.WriteLine($"wrote {N(n)} request(s) to {parse.GetValue(output)}");
            return ExitCodes.Success;
        });
        return command;
    }

    public static Command Fill()
    {
        var candidates = new Option<string>("--candidates") { Description = "the candidates of data mine-pairs", Required = true };
        var answers = new Option<string>("--answers") { Description = "the chat model's answers: batch output lines (custom_id, response) or {\"id\", \"caption\"} lines", Required = true };
        var output = new Option<string>("--out") { Description = "the DiffCap training file: the answered candidates, the answer as their caption", Required = true };
        var skipBad = new Option<bool>("--skip-bad") { Description = "leave out unanswered or failed candidates, listing each on stderr, instead of stopping at the first" };
        var command = new Command("fill-captions", "Put a chat model's answers into the mined candidates: a DiffCap training file")
        { candidates, answers, output, skipBad };
        CliAction.Set(command, (parse, _) =>
        {
            var report = new DataReport(parse.GetValue(skipBad) ? BadInputMode.Skip : BadInputMode.Error);
            var read = ChatBatch.ReadAnswers(parse.GetValue(answers)!, report);
            int n = ChatBatch.FillCaptions(parse.GetValue(candidates)!, read, parse.GetValue(output)!, report);
            foreach (var p in report.Skipped) Console.Error.WriteLine($"skipped {p}");
            Console.WriteLine($"wrote {N(n)} captioned pair(s) to {parse.GetValue(output)}" + (report.Skipped.Count > 0 ? $"; skipped {N(report.Skipped.Count)} problem(s)" : ""));
            return ExitCodes.Success;
        });
        return command;
    }

    static string N(int n) => n.ToString("N0", CultureInfo.InvariantCulture);
}
