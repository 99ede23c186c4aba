using System.CommandLine;
using OneDiff.Data.Readers;

namespace OneDiff.Cli.Commands;

/// <summary>The one dataset split a data command reads: <c>--format --root [--split train]</c>.</summary>
internal sealed class DatasetSplitOptions
{
    public Option<string> Format { get; } = FormatOption(required: true);
    public Option<string> Root { get; } = new("--root") { Description = "the dataset folder, laid out as its authors ship it", Required = true };
    public Option<string> Split { get; } = new("--split") { Description = "split name", DefaultValueFactory = _ => "train" };

    public IEnumerable<Option> All => [Format, Root, Split];

    /// <summary>--format, taking only the formats there are readers for (another name is a usage error).</summary>
    public static Option<string> FormatOption(bool required)
    {
        var format = new Option<string>("--format") { Description = $"dataset format: {string.Join(", ", DatasetReader.Formats.Keys)}", Required = required };
        format.AcceptOnlyFromAmong([.. DatasetReader.Formats.Keys]);
        return format;
    }
}
