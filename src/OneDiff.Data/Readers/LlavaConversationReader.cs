namespace OneDiff.Data.Readers;

/// <summary>One question and its answer in a conversation about an image.</summary>
public sealed record ConversationTurn(string Question, string Answer);

/// <summary>A single image and a conversation about it (LLaVA's instruction data, such as LLaVA-665K).</summary>
public sealed record ImageConversation(string Id, string Image, IReadOnlyList<ConversationTurn> Turns);

/// <summary>
/// LLaVA's instruction JSON as conversations: human and gpt messages in turns, the
/// <c>&lt;image&gt;</c> marker removed (the template places the image before the first question), a
/// leading gpt message or a trailing unanswered question dropped as LLaVA's preprocessing drops
/// them. Text-only records carry no image; they are counted in <see cref="TextOnly"/>, not read.
/// </summary>
public sealed class LlavaConversationReader
{
    public int TextOnly { get; private set; }

    public List<ImageConversation> Read(string jsonFile, string imageRoot, DataReport report, bool checkImages = true, string? arrayProperty = null)
    {
        var result = new List<ImageConversation>();
        foreach (var (id, image, messages) in LlavaJson.Records(jsonFile, arrayProperty))
        {
            if (image is null) { TextOnly++; continue; }
            var turns = Turns(messages, out string? problem);
            if (problem is not null) { report.Problem($"id {id}", jsonFile, problem); continue; }
            var path = Formats.DatasetPaths.Resolve(imageRoot, image, $"id {id}", report);
            if (path is null) continue;
            if (checkImages && !File.Exists(path)) { report.Problem($"id {id}", path, "image file is missing"); continue; }
            result.Add(new ImageConversation(id, path, turns));
        }
        return result;
    }

    static List<ConversationTurn> Turns(List<(string From, string Value)> messages, out string? problem)
    {
        problem = null;
        var turns = new List<ConversationTurn>();
        int start = messages.Count > 0 && messages[0].From == "gpt" ? 1 : 0;
        for (int i = start; i + 1 < messages.Count; i += 2)
        {
            var (asker, question) = messages[i];
            var (answerer, answer) = messages[i + 1];
            if (asker != "human" || answerer != "gpt")
            {
                problem = $"message {i + 1} is from '{asker}' and message {i + 2} from '{answerer}'; turns go human, then gpt";
                return turns;
            }
            question = question.Replace("<image>", "").Trim();
            if (question.Length == 0 && i > start || string.IsNullOrWhiteSpace(answer))
            {
                problem = $"turn {turns.Count + 1} has an empty {(string.IsNullOrWhiteSpace(answer) ? "answer" : "question")}";
                return turns;
            }
            turns.Add(new ConversationTurn(question, answer.Trim()));
        }
        if (turns.Count == 0) problem = "has no human question with a gpt answer";
        return turns;
    }
}
